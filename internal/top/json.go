package top

import (
	"strconv"

	"github.com/socktrace/socktrace/internal/render"
)

// AppendJSON appends rep as NDJSON: an object per row, then a summary
// object. Counts are the interval's, not rates; durations are in
// microseconds, null when the interval had none. A field the rows are not
// grouped by is null.
func AppendJSON(b []byte, rep *Report) []byte {
	end := render.AppendJSONTime(nil, rep.End)
	for i := range rep.Rows {
		b = appendRowJSON(b, rep, &rep.Rows[i], end)
	}
	return appendSummaryJSON(b, rep, end)
}

func appendRowJSON(b []byte, rep *Report, r *Row, end []byte) []byte {
	by := rep.By
	if r.Other {
		by = 0
	}
	b = append(b, `{"interval_end":"`...)
	b = append(b, end...)
	b = append(b, '"')
	if r.Other {
		b = append(b, `,"other":true`...)
	}
	b = append(b, `,"pid":`...)
	b = appendUintOrNull(b, uint64(r.PID), by&ByProcess != 0)
	b = append(b, `,"comm":`...)
	if by&(ByProcess|ByComm) != 0 {
		b = render.AppendJSONString(b, r.Comm.String())
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"container":`...)
	if by&(ByProcess|ByContainer) != 0 {
		b = render.AppendJSONString(b, r.Container)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"remote":`...)
	if by&(ByRemote|ByRemotePort) != 0 {
		b = render.AppendJSONString(b, RemoteText(r))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"local_port":`...)
	b = appendUintOrNull(b, uint64(r.LocalPort), !r.Other)
	b = appendCount(b, "connects", r.Connects)
	b = appendCount(b, "accepts", r.Accepts)
	b = append(b, `,"failed":{`...)
	for i, f := range r.Failures {
		if i > 0 {
			b = append(b, ',')
		}
		b = render.AppendJSONString(b, ReasonName(f.Reason))
		b = append(b, ':')
		b = strconv.AppendUint(b, f.Count, 10)
	}
	b = append(b, '}')
	b = appendCount(b, "resets_sent", r.ResetsSent)
	b = appendCount(b, "resets_received", r.ResetsReceived)
	b = appendCount(b, "retransmits", r.Retransmits)
	b = appendCount(b, "syn_sent", uint64(r.SynSent))
	b = appendCount(b, "syn_recv", uint64(r.SynRecv))
	b = appendCount(b, "time_wait", uint64(r.TimeWait))
	b = appendMicros(b, "connect_p50_us", r.ConnectP50)
	b = appendMicros(b, "connect_p99_us", r.ConnectP99)
	b = appendMicros(b, "lifetime_p50_us", r.LifetimeP50)
	b = appendMicros(b, "lifetime_p99_us", r.LifetimeP99)
	b = appendCount(b, "bytes_sent", r.BytesSent)
	b = appendCount(b, "bytes_received", r.BytesReceived)
	return append(b, "}\n"...)
}

func appendSummaryJSON(b []byte, rep *Report, end []byte) []byte {
	t := &rep.Totals
	b = append(b, `{"summary":true,"interval_end":"`...)
	b = append(b, end...)
	b = append(b, `","interval_ns":`...)
	b = strconv.AppendInt(b, int64(rep.Interval), 10)
	b = append(b, `,"by":"`...)
	b = append(b, rep.By.String()...)
	b = append(b, '"')
	b = appendCount(b, "connects", t.Connects)
	b = appendCount(b, "accepts", t.Accepts)
	b = appendCount(b, "failed", t.Failed)
	b = appendCount(b, "resets_sent", t.ResetsSent)
	b = appendCount(b, "resets_received", t.ResetsReceived)
	b = appendCount(b, "retransmits", t.Retransmits)
	b = appendCount(b, "syn_sent", uint64(t.SynSent))
	b = appendCount(b, "syn_recv", uint64(t.SynRecv))
	b = appendCount(b, "time_wait", uint64(t.TimeWait))
	b = appendCount(b, "lost", t.Lost)
	b = appendCount(b, "other_events", t.OtherEvents)
	b = appendCount(b, "untracked", t.Untracked)
	b = appendCount(b, "rows", uint64(rep.Groups))
	return append(b, "}\n"...)
}

func appendCount(b []byte, name string, v uint64) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendUint(b, v, 10)
}

func appendMicros(b []byte, name string, us int64) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return appendUintOrNull(b, uint64(us), us >= 0)
}

func appendUintOrNull(b []byte, v uint64, ok bool) []byte {
	if !ok {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, v, 10)
}
