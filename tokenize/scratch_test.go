package tokenize

import (
	"strings"
	"testing"
	"unsafe"
)

// TestScratchOwnsItsCacheLines: the pooled per-call state is exactly one
// 128-byte size class, so two goroutines' states never share a cache line
// (see scratch).
func TestScratchOwnsItsCacheLines(t *testing.T) {
	if got := unsafe.Sizeof(scratch{}); got != scratchSize {
		t.Fatalf("scratch is %d bytes, want %d", got, scratchSize)
	}
}

// TestAllocations counts allocations per call on each path: none on
// numerals while the halves fit in 128 bits and on the math/big path up to
// 8-word halves (its numbers and buffers are reused), the result string
// (and the numerals beyond 128 of them) through Encrypt, and beyond that a
// bounded few: the temporaries of big.Int's own radix conversion.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop objects")
	}
	f, _ := NewFF1(GenerateKey(), "0123456789")
	tweak := []byte("a tweak of twenty-four b")
	for _, c := range []struct {
		n          int
		numerals   float64 // CryptNumerals, at most
		encryptMax float64 // Encrypt, at most
	}{
		{6, 0, 1}, {16, 0, 1}, {38, 0, 1}, // 64-bit
		{39, 0, 1}, {56, 0, 1}, {76, 0, 1}, // 128-bit
		{77, 0, 1}, {150, 0, 2}, {1000, 16, 18}, // math/big
	} {
		pt := strings.Repeat("9876543210", c.n/10+1)[:c.n]
		x, _ := f.appendNumerals(nil, pt)
		f.CryptNumerals(true, tweak, x) // warm the pool
		if got := testing.AllocsPerRun(50, func() { f.CryptNumerals(true, tweak, x) }); got > c.numerals {
			t.Errorf("%d digits: CryptNumerals allocates %.1f times, want <= %.0f", c.n, got, c.numerals)
		}
		if got := testing.AllocsPerRun(50, func() { f.Encrypt(tweak, pt) }); got > c.encryptMax {
			t.Errorf("%d digits: Encrypt allocates %.1f times, want <= %.0f", c.n, got, c.encryptMax)
		}
	}
}
