package render

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestAppendUintMatchesStrconv(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 99, 100, 255, 999, 1000, 9999, 10000, 65535, 99999, 100000,
		4026531840, 1<<32 - 1, 1 << 32, 1e15, 1<<63 + 12345, 1<<64 - 1}
	for p := uint64(1); p < 1e19; p *= 10 {
		vals = append(vals, p-1, p, p+1)
	}
	for _, v := range vals {
		if got, want := string(appendUint([]byte("x"), v)), "x"+strconv.FormatUint(v, 10); got != want {
			t.Errorf("appendUint(%d) = %q, want %q", v, got, want)
		}
		if got, want := string(appendHex([]byte("x"), v)), "x"+strconv.FormatUint(v, 16); got != want {
			t.Errorf("appendHex(%#x) = %q, want %q", v, got, want)
		}
	}
	for v := 0; v < 256; v++ {
		if got, want := string(appendByte(nil, byte(v))), strconv.Itoa(v); got != want {
			t.Errorf("appendByte(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestAppendDigitsPads(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		n    int
		want string
	}{{0, 9, "000000000"}, {123456789, 9, "123456789"}, {1, 6, "000001"}, {999999, 6, "999999"}, {42, 3, "042"},
		{1<<40 + 7, 2, "83"}, {1<<64 - 1, 3, "615"}, {1<<64 - 1, 6, "551615"}} {
		if got := string(appendDigits(nil, c.v, c.n)); got != c.want {
			t.Errorf("appendDigits(%d, %d) = %q, want %q", c.v, c.n, got, c.want)
		}
	}
}

func TestAppendAddrPortMatchesNetip(t *testing.T) {
	for _, s := range []string{"0.0.0.0:0", "127.0.0.1:9511", "10.20.255.1:65535", "255.255.255.255:1",
		"[::]:0", "[::1]:22", "[fd00::1]:40000", "[2001:db8::2]:443", "[::ffff:127.0.0.1]:80", "[fe80::1%eth0]:5"} {
		ap := netip.MustParseAddrPort(s)
		if got, want := string(appendAddrPort(nil, ap)), string(ap.AppendTo(nil)); got != want {
			t.Errorf("%s: %q, want %q", s, got, want)
		}
	}
	var zero netip.AddrPort
	if got, want := string(appendAddrPort(nil, zero)), string(zero.AppendTo(nil)); got != want {
		t.Errorf("zero AddrPort: %q, want %q", got, want)
	}
}

// Durations print in us below 1 ms, then in ms and past 1 s in seconds,
// both to three decimals.
func TestAppendDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{57 * time.Microsecond, "57us"},
		{4641 * time.Microsecond, "4.641ms"},
		{999999 * time.Microsecond, "999.999ms"},
		{time.Second, "1.000s"},
		{4000436 * time.Microsecond, "4.000s"},
		{4000501 * time.Microsecond, "4.001s"},
		{61 * time.Second, "61.000s"},
		{2 * time.Hour, "7200.000s"},
	} {
		if got := string(appendDuration(nil, tc.d)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

// appendDuration's integer paths must print what strconv prints.
func TestAppendDurationMatchesFloat(t *testing.T) {
	ds := []time.Duration{0, 1, 499, 500, 501, 999, 1000, 1499, 1500, 2500, 999499, 999500, 999999,
		time.Millisecond, 1000499, 1000500, 1000501, 1234567, 9999999499, 9999999500,
		999999499, 999999500, time.Second, time.Second + 499999, time.Second + 500000, time.Second + 1500000,
		10 * time.Second, 10*time.Second + 49999999, 10*time.Second + 50000000, 10*time.Second + 150000000,
		time.Hour + 250000000, -1, -1500, -time.Second}
	for d := time.Duration(1); d < 100*time.Second; d = d*7 + 13 {
		ds = append(ds, d, d+500, d/1000*1000+500)
	}
	for _, d := range ds {
		if got, want := string(appendDuration(nil, d)), string(appendDurationFloat(nil, d)); got != want {
			t.Errorf("%d ns: got %q, strconv says %q", int64(d), got, want)
		}
	}
}
