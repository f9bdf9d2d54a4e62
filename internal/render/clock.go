package render

import "time"

// jsonTimeLayout is how every time in JSON is written: RFC 3339 in UTC,
// with all nine digits of the nanoseconds, trailing zeros kept, so every
// mode's times have one length, sort as strings and parse alike.
const jsonTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendJSONTime appends t in jsonTimeLayout: the way every package writes
// a time into JSON. The event path uses clockCache instead.
func AppendJSONTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, jsonTimeLayout)
}

// clockCache formats event times. time.Time.AppendFormat works out the
// whole date for every event; the date and the time of day change once a
// second, so they are formatted once a second and only the sub-second
// digits per event.
type clockCache struct {
	jsonSec, textSec int64
	jsonPrefix       []byte // jsonTimeLayout up to the nanoseconds, in UTC
	textPrefix       []byte // "15:04:05." in local time
}

func (c *clockCache) appendJSON(b []byte, t time.Time) []byte {
	if sec := t.Unix(); sec != c.jsonSec || c.jsonPrefix == nil {
		c.jsonSec = sec
		c.jsonPrefix = t.UTC().AppendFormat(c.jsonPrefix[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, c.jsonPrefix...)
	b = appendDigits(b, uint64(t.Nanosecond()), 9)
	return append(b, 'Z')
}

func (c *clockCache) appendText(b []byte, t time.Time) []byte {
	if sec := t.Unix(); sec != c.textSec || c.textPrefix == nil {
		c.textSec = sec
		c.textPrefix = t.AppendFormat(c.textPrefix[:0], "15:04:05.")
	}
	b = append(b, c.textPrefix...)
	return appendDigits(b, uint64(t.Nanosecond()/1000), 6)
}
