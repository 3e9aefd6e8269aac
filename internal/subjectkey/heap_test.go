package subjectkey

import (
	"runtime"
	"testing"
)

// heapPerKeys returns the bytes of heap that n parsed subject keys hold.
func heapPerKeys(t testing.TB, n int) float64 {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	keep := make([]*Keys, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		bb, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if keep[i], err = bb.Keys(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// BenchmarkKeysHeap reports the heap one cached subject's Keys hold
// (bytes/subject), over 100,000 of them: go test -run '^$' -bench
// KeysHeap -benchtime 1x ./internal/subjectkey
func BenchmarkKeysHeap(b *testing.B) {
	var per float64
	for b.Loop() {
		per = heapPerKeys(b, 100_000)
	}
	b.ReportMetric(per, "bytes/subject")
}
