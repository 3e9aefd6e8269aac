package tokenize

import (
	"fmt"
	"strings"
	"testing"
)

// vsReferenceLengths are the input lengths (decimal digits) of
// BenchmarkFF1VsReference: the shortest, the 64-bit path and its last
// length (38), the 128-bit path from its first (39) to its last (76), the
// math/big path from its first (77) up to MaxLength.
var vsReferenceLengths = []int{6, 9, 16, 20, 30, 38, 39, 40, 56, 70, 76, 77, 100, 200, 500, 1000, 4096}

// BenchmarkFF1VsReference measures FF1.CryptNumerals against refFF1, the
// literal math/big FF1 of SP 800-38G that stands in for the FF1 packages
// users would otherwise pick (see refFF1), in the same binary and run:
// AES-256, radix 10, a 24-byte tweak, encryption. Sub-benchmarks are named
// n=<digits>/<implementation>, so that the ratio per length is read from
// one run.
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
		b.Run(fmt.Sprintf("n=%d/fieldcrypt", n), func(b *testing.B) {
			y := append([]uint16(nil), x...)
			b.ReportAllocs()
			for b.Loop() {
				copy(y, x)
				if err := f.CryptNumerals(true, tweak, y); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/reference", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				refFF1(key, 10, tweak, x, true)
			}
		})
	}
}
