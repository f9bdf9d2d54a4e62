package top

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every duration falls in the bucket whose value is within 1/8 of it, and
// buckets are in order.
func TestHistBuckets(t *testing.T) {
	last := -1
	for us := uint64(0); us < 1<<22; us += 1 + us/64 {
		i := bucketOf(us)
		if i < last || i >= histBuckets {
			t.Fatalf("%dus: bucket %d after %d", us, i, last)
		}
		last = i
		if v := bucketValue(i); float64(v) < float64(us)*7/8 || float64(v) > float64(us)*9/8+1 {
			t.Fatalf("%dus: bucket %d has value %dus, not within 1/8", us, i, v)
		}
	}
	if bucketOf(1<<maxBit) != histBuckets-1 || bucketOf(^uint64(0)) != histBuckets-1 {
		t.Errorf("durations past 2^%dus are not in the last bucket", maxBit)
	}
}

// Percentiles of known samples, against the exact ones, within 1/8.
func TestHistQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h hist
	var samples []uint64
	for range 10000 {
		us := uint64(rng.ExpFloat64() * 2000)
		samples = append(samples, us)
		h.add(time.Duration(us) * time.Microsecond)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := samples[int(q*float64(len(samples)))-1]
		got, ok := h.quantile(q)
		if !ok || float64(got) < float64(exact)*7/8 || float64(got) > float64(exact)*9/8+1 {
			t.Errorf("p%v: %dus, exact %dus", q*100, got, exact)
		}
	}
	var empty *hist
	if _, ok := empty.quantile(0.5); ok {
		t.Error("a missing histogram has a median")
	}
	h.reset()
	if _, ok := h.quantile(0.5); ok {
		t.Error("an empty histogram has a median")
	}
	h.add(-time.Second) // a clock step: counted as 0
	if v, ok := h.quantile(0.99); !ok || v != 0 {
		t.Errorf("a negative duration: %d, %v", v, ok)
	}
}
