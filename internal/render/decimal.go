package render

import "net/netip"

// The event stream prints a dozen numbers and two addresses per line, for
// every event of a churn; strconv.AppendUint and netip.AddrPort.AppendTo
// were the largest part of formatting them. These write the digits
// straight into the line, two at a time.

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendUint appends v in decimal, as strconv.AppendUint(b, v, 10).
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	n := decimalLen(v)
	b = grow(b, n)
	putDigits(b[len(b)-n:], v)
	return b
}

// appendDigits appends the n lowest decimal digits of v, zero-padded.
func appendDigits(b []byte, v uint64, n int) []byte {
	b = grow(b, n)
	putDigits(b[len(b)-n:], v)
	return b
}

// putDigits fills d with the lowest len(d) decimal digits of v,
// zero-padded. Four digits per division by 10000, then two pairs that do
// not wait for each other: the divisions' latency was the cost, not
// their number.
func putDigits(d []byte, v uint64) {
	i := len(d)
	for ; v > 0xffffffff && i >= 4; i -= 4 {
		q := v / 10000
		put4(d[i-4:i], uint32(v-q*10000))
		v = q
	}
	if v > 0xffffffff {
		v %= 10000 // fewer than four digits are left to write
	}
	v32 := uint32(v)
	for ; i >= 4; i -= 4 {
		q := v32 / 10000
		put4(d[i-4:i], v32-q*10000)
		v32 = q
	}
	if i >= 2 {
		r := uint(v32%100) * 2
		v32 /= 100
		d[i-1] = digitPairs[r+1]
		d[i-2] = digitPairs[r]
		i -= 2
	}
	if i == 1 {
		d[0] = byte('0' + v32%10)
	}
}

// put4 writes v (below 10000) as four digits into d.
func put4(d []byte, v uint32) {
	hi, lo := uint(v/100)*2, uint(v%100)*2
	_ = d[3]
	d[0], d[1] = digitPairs[hi], digitPairs[hi+1]
	d[2], d[3] = digitPairs[lo], digitPairs[lo+1]
}

// appendByte appends v in decimal: an IPv4 address is four of them.
func appendByte(b []byte, v byte) []byte {
	switch {
	case v >= 100:
		r := uint(v%100) * 2
		return append(b, '0'+v/100, digitPairs[r], digitPairs[r+1])
	case v >= 10:
		return append(b, digitPairs[2*uint(v)], digitPairs[2*uint(v)+1])
	}
	return append(b, '0'+v)
}

// decimalLen is the number of decimal digits of v.
func decimalLen(v uint64) int {
	n := 1
	for ; v >= 10000; v /= 10000 {
		n += 4
	}
	switch {
	case v >= 1000:
		return n + 3
	case v >= 100:
		return n + 2
	case v >= 10:
		return n + 1
	}
	return n
}

// grow extends b by n bytes, left for the caller to fill.
func grow(b []byte, n int) []byte {
	if l := len(b) + n; l <= cap(b) {
		return b[:l]
	}
	return append(b, make([]byte, n)...)
}

// appendAddrPort appends ap as netip.AddrPort.AppendTo does. IPv4, the
// common case, is written here; other addresses go to netip.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	if !a.Is4() {
		return ap.AppendTo(b)
	}
	b = appendAddr(b, a)
	b = append(b, ':')
	return appendUint(b, uint64(ap.Port()))
}

// appendAddr appends a as netip.Addr.AppendTo does.
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return a.AppendTo(b)
	}
	v4 := a.As4()
	b = appendByte(b, v4[0])
	b = append(b, '.')
	b = appendByte(b, v4[1])
	b = append(b, '.')
	b = appendByte(b, v4[2])
	b = append(b, '.')
	return appendByte(b, v4[3])
}
