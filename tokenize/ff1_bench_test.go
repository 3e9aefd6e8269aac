package tokenize

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// vsReferenceLengths are the input lengths (decimal digits) of
// BenchmarkFF1VsReference: the shortest, the 64-bit path and its last
// length (38), the 128-bit path from its first (39) to its last (76), the
// math/big path from its first (77) up to MaxLength.
var vsReferenceLengths = []int{6, 9, 16, 20, 30, 38, 39, 40, 56, 70, 76, 77, 100, 200, 500, 1000, 4096}

// BenchmarkFF1VsReference measures FF1.CryptNumerals against refFF1, the
// literal math/big FF1 of SP 800-38G that stands in for the FF1 packages
// users would otherwise pick (see refFF1): AES-256, radix 10, a 24-byte
// tweak, encryption, at each length of vsReferenceLengths. The two run in
// alternating batches of about 200 µs, so that both see the same load from
// the rest of the machine: ns/op is fieldcrypt's median time per call,
// reference-ns/op the reference's, and x-faster the median of the
// per-batch ratios reference / fieldcrypt.
func BenchmarkFF1VsReference(b *testing.B) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	k, _ := NewKey(key)
	f, err := NewFF1(k, "0123456789")
	if err != nil {
		b.Fatal(err)
	}
	tweak := []byte("fieldcrypt/token/v1\x00Card")
	for _, n := range vsReferenceLengths {
		pt := strings.Repeat("4111111111", n/10+1)[:n]
		x, _ := f.appendNumerals(nil, pt)
		y := append([]uint16(nil), x...)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ours := func() {
				copy(y, x)
				if err := f.CryptNumerals(true, tweak, y); err != nil {
					b.Fatal(err)
				}
			}
			rc := newRefCipher(key, 10)
			ref := func() { rc.crypt(tweak, x, true) }
			tOurs, tRef, ratio := alternate(b, ours, ref)
			b.ReportMetric(tOurs, "ns/op")
			b.ReportMetric(tRef, "reference-ns/op")
			b.ReportMetric(ratio, "x-faster")
		})
	}
}

// alternate runs a and c in alternating batches of about 200 µs of c until
// b.Loop ends, and returns the median time per call of each and the median
// of the per-batch ratios c/a.
func alternate(b *testing.B, a, c func()) (ta, tc, ratio float64) {
	n := 1
	for {
		start := time.Now()
		for range n {
			c()
		}
		if time.Since(start) > 200*time.Microsecond {
			break
		}
		n *= 2
	}
	// a is the faster: give it as many calls as take about as long.
	start := time.Now()
	for range n {
		a()
	}
	na := n * max(1, int(200*time.Microsecond/max(time.Since(start), 1)))
	var as, cs, rs []float64
	for b.Loop() {
		t0 := time.Now()
		for range na {
			a()
		}
		t1 := time.Now()
		for range n {
			c()
		}
		da := float64(t1.Sub(t0).Nanoseconds()) / float64(na)
		dc := float64(time.Since(t1).Nanoseconds()) / float64(n)
		as, cs, rs = append(as, da), append(cs, dc), append(rs, dc/da)
	}
	return med(as), med(cs), med(rs)
}

func med(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
