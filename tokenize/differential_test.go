package tokenize

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// ff1Path is one of the three implementations inside FF1.
type ff1Path string

const (
	path64  ff1Path = "64-bit"
	path128 ff1Path = "128-bit"
	pathBig ff1Path = "math/big"
)

// pathsFor returns the paths that can run x's length on f: the 64-bit path
// while radix^v < 2^64, the 128-bit one while radix^v < 2^128, math/big
// always.
func pathsFor(f *FF1, n int) []ff1Path {
	paths := []ff1Path{pathBig}
	if _, ok := pow128(f.radix, n-n/2); ok {
		paths = append(paths, path128)
	}
	if _, ok := pow64(f.radix, n-n/2); ok {
		paths = append(paths, path64)
	}
	return paths
}

// cryptOn runs CryptNumerals on the given path.
func cryptOn(f *FF1, p ff1Path, encrypt bool, tweak []byte, x []uint16) error {
	f.forceBig, f.force128 = p == pathBig, p == path128
	defer func() { f.forceBig, f.force128 = false, false }()
	return f.CryptNumerals(encrypt, tweak, x)
}

// checkPaths enciphers x on every path that can take it and with refFF1,
// requires the same answer from all, and deciphers it back on every path.
func checkPaths(t testing.TB, key []byte, f *FF1, tweak []byte, x []uint16) {
	t.Helper()
	want := refFF1(key, int(f.radix), tweak, x, true)
	for _, p := range pathsFor(f, len(x)) {
		got := append([]uint16(nil), x...)
		if err := cryptOn(f, p, true, tweak, got); err != nil {
			t.Fatalf("%s path, radix %d, n %d: %v", p, f.radix, len(x), err)
		}
		if !equalUint16(got, want) {
			t.Fatalf("%s path, radix %d, n %d, tweak %d bytes: Encrypt differs from the reference", p, f.radix, len(x), len(tweak))
		}
		if err := cryptOn(f, p, false, tweak, got); err != nil || !equalUint16(got, x) {
			t.Fatalf("%s path, radix %d, n %d: Decrypt did not restore the input (%v)", p, f.radix, len(x), err)
		}
	}
}

// edgeLengths returns, for f's radix, the shortest input, the longest on
// the 64-bit path, the longest on the 128-bit path, and the first on the
// math/big path: where the paths hand over to each other.
func edgeLengths(f *FF1) []int {
	last := func(fits func(int) bool) int {
		n := f.MinLength()
		for fits(n + 1) {
			n++
		}
		return n
	}
	n64 := last(func(n int) bool { _, ok := pow64(f.radix, n-n/2); return ok })
	n128 := last(func(n int) bool { _, ok := pow128(f.radix, n-n/2); return ok })
	return []int{f.MinLength(), n64, n64 + 1, n128, n128 + 1}
}

// TestPathsMatchReference is the deterministic differential test: random
// keys of every size, radixes from 2 to 65,536, lengths across and at the
// edges of every path, random tweaks; every path must give what the literal
// reference gives.
func TestPathsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	trials := 1500
	if testing.Short() {
		trials = 200
	}
	for trial := range trials {
		radix := 2 + rng.IntN(300)
		switch trial % 10 {
		case 0:
			radix = 2 + rng.IntN(MaxRadix-1)
		case 1:
			radix = []int{2, 10, 16, 26, 36, 62, 256, MaxRadix}[rng.IntN(8)]
		}
		key, f := randomKeyCipher(t, rng, radix)
		edges := edgeLengths(f)
		n := edges[rng.IntN(len(edges))]
		if trial%3 == 0 {
			n = f.MinLength() + rng.IntN(edges[4]+8-f.MinLength())
		}
		x := make([]uint16, n)
		for i := range x {
			x[i] = uint16(rng.IntN(radix))
		}
		if trial%5 == 0 { // all zeros or all top numerals: extreme halves
			for i := range x {
				x[i] = uint16((radix - 1) * (trial / 5 % 2))
			}
		}
		tweak := make([]byte, rng.IntN(50))
		for i := range tweak {
			tweak[i] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprintf("radix%d-n%d-t%d", radix, n, len(tweak)), func(t *testing.T) {
			checkPaths(t, key, f, tweak, x)
		})
	}
}

// randomKeyCipher is randomCipher that also returns the key's bytes.
func randomKeyCipher(t testing.TB, rng *rand.Rand, radix int) ([]byte, *FF1) {
	t.Helper()
	key := make([]byte, []int{16, 24, 32}[rng.IntN(3)])
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	k, _ := NewKey(key)
	alphabet := make([]rune, radix)
	for i := range alphabet {
		alphabet[i] = rune(0x100 + i)
		if alphabet[i] >= 0xD800 {
			alphabet[i] += 0x800 // skip the UTF-16 surrogates
		}
	}
	f, err := NewFF1(k, string(alphabet))
	if err != nil {
		t.Fatal(err)
	}
	return key, f
}

// FuzzFF1Differential compares the 64-bit, 128-bit and math/big paths with
// the literal reference refFF1 on any key size, radix (2 to 65,536),
// length and tweak the fuzzer finds.
func FuzzFF1Differential(f *testing.F) {
	requireSeeds(f, "FuzzFF1Differential")
	f.Fuzz(func(t *testing.T, key []byte, radixSeed uint32, lengthSeed uint16, digits []byte, tweak []byte) {
		switch {
		case len(key) >= 32:
			key = key[:32]
		case len(key) >= 24:
			key = key[:24]
		case len(key) >= 16:
			key = key[:16]
		default:
			return
		}
		k, _ := NewKey(key)
		radix := 2 + int(radixSeed%(MaxRadix-1))
		if radixSeed&(1<<31) == 0 { // small radixes most of the time
			radix = 2 + int(radixSeed%99)
		}
		alphabet := make([]rune, radix)
		for i := range alphabet {
			alphabet[i] = rune(0x100 + i)
			if alphabet[i] >= 0xD800 {
				alphabet[i] += 0x800
			}
		}
		ff, err := NewFF1(k, string(alphabet))
		if err != nil {
			t.Fatal(err)
		}
		edges := edgeLengths(ff)
		n := ff.MinLength() + int(lengthSeed)%(edges[4]+16-ff.MinLength())
		x := make([]uint16, n)
		for i := range x {
			var d uint16
			if len(digits) > 0 {
				d = uint16(digits[i%len(digits)]) | uint16(digits[(i+1)%len(digits)])<<8
			}
			x[i] = uint16(int(d) % radix)
		}
		if err := ff.CryptNumerals(true, tweak, append([]uint16(nil), x...)); errors.Is(err, ErrDomainTooSmall) {
			t.Fatalf("n %d >= MinLength refused: %v", n, err)
		}
		checkPaths(t, key, ff, tweak, x)
	})
}

// TestErrorsLeaveInputUnchanged: on every path, a refused call changes
// nothing, returns the same typed error whatever the path, and its message
// holds no numeral of the input.
func TestErrorsLeaveInputUnchanged(t *testing.T) {
	f, _ := NewFF1(GenerateKey(), "0123456789")
	for _, n := range []int{16, 50, 100} { // 64-bit, 128-bit, math/big
		x := make([]uint16, n)
		for i := range x {
			x[i] = 7
		}
		x[n-1] = 10 // not a numeral of radix 10
		orig := append([]uint16(nil), x...)
		err := f.CryptNumerals(true, []byte("tweak"), x)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Pos != n-1 || !errors.Is(err, ErrNotInAlphabet) {
			t.Errorf("n %d: %v, want *InputError at %d", n, err, n-1)
		}
		if !equalUint16(x, orig) {
			t.Errorf("n %d: a refused call changed its input", n)
		}
		if err != nil && strings.Contains(err.Error(), "7") {
			t.Errorf("n %d: error %q shows the input", n, err)
		}
	}
	if err := f.CryptNumerals(true, nil, make([]uint16, 5)); !errors.Is(err, ErrDomainTooSmall) {
		t.Errorf("5 digits: %v", err)
	}
	if err := f.CryptNumerals(true, nil, make([]uint16, MaxLength+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("MaxLength+1: %v", err)
	}
}
