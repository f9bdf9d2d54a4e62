package top

import (
	"math/bits"
	"time"
)

// hist is a log-linear histogram of durations in microseconds: exact below
// 2^subBits µs, then 2^subBits buckets per power of two, so a bucket is at
// most 1/2^subBits of its values wide (12.5 %). Its size is fixed whatever
// it counts: percentiles without stored samples.
type hist struct {
	n, min, max uint64 // min and max bound what a bucket's middle says
	counts      [histBuckets]uint32
}

const (
	subBits = 3
	subs    = 1 << subBits
	// maxBit: durations from 2^maxBit µs (about 12.7 days) on share the
	// last bucket.
	maxBit      = 40
	histBuckets = (maxBit - subBits + 1) * subs
)

func bucketOf(us uint64) int {
	if us < subs {
		return int(us)
	}
	if us >= 1<<maxBit {
		return histBuckets - 1
	}
	k := bits.Len64(us) - 1 // 2^k <= us < 2^(k+1), k >= subBits
	return (k-subBits+1)*subs + int(us>>(k-subBits)&(subs-1))
}

// bucketValue is the middle of bucket i, in microseconds.
func bucketValue(i int) uint64 {
	if i < subs {
		return uint64(i)
	}
	k := i/subs + subBits - 1
	low := uint64(subs+i%subs) << (k - subBits)
	return low + (uint64(1)<<(k-subBits))/2
}

func (h *hist) add(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	i := bucketOf(us)
	if h.counts[i] == ^uint32(0) {
		return
	}
	h.counts[i]++
	if h.n == 0 || us < h.min {
		h.min = us
	}
	h.max = max(h.max, us)
	h.n++
}

// quantile is the value below which a share q of the durations fall, in
// microseconds, to the bucket's precision; ok is false when there are none.
func (h *hist) quantile(q float64) (us uint64, ok bool) {
	if h == nil || h.n == 0 {
		return 0, false
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += uint64(c); seen >= rank {
			return min(max(bucketValue(i), h.min), h.max), true
		}
	}
	return h.max, true
}

func (h *hist) reset() { *h = hist{} }
