package tokenize

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// requireSeeds fails if a target's checked-in seed corpus is missing, so a
// fuzz target never runs on nothing.
func requireSeeds(f *testing.F, name string) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
	if err != nil || len(entries) == 0 {
		f.Fatalf("seed corpus testdata/fuzz/%s is empty or missing: %v", name, err)
	}
}

// FuzzFF1RoundTrip: for any alphabet size, input and tweak, Decrypt undoes
// Encrypt, the output stays in the alphabet with the same length, and the
// fast path agrees with math/big.
func FuzzFF1RoundTrip(f *testing.F) {
	requireSeeds(f, "FuzzFF1RoundTrip")
	f.Fuzz(func(t *testing.T, key []byte, radixSeed uint16, input []byte, tweak []byte) {
		if len(key) < 16 {
			return
		}
		k, _ := NewKey(key[:16])
		radix := 2 + int(radixSeed)%300
		alphabet := make([]rune, radix)
		for i := range alphabet {
			alphabet[i] = rune(0x30 + i)
		}
		ff, err := NewFF1(k, string(alphabet))
		if err != nil {
			t.Fatal(err)
		}
		x := make([]uint16, 0, len(input))
		for _, b := range input {
			x = append(x, uint16(int(b)%radix))
		}
		orig := append([]uint16(nil), x...)
		err = ff.CryptNumerals(true, tweak, x)
		if errors.Is(err, ErrDomainTooSmall) || errors.Is(err, ErrTooLong) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range x {
			if int(d) >= radix {
				t.Fatalf("numeral %d out of radix %d", d, radix)
			}
		}
		big := append([]uint16(nil), orig...)
		ff.forceBig = true
		if err := ff.CryptNumerals(true, tweak, big); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if x[i] != big[i] {
				t.Fatalf("fast and math/big paths differ (radix %d, n %d)", radix, len(x))
			}
		}
		ff.forceBig = false
		if err := ff.CryptNumerals(false, tweak, x); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if x[i] != orig[i] {
				t.Fatal("Decrypt did not undo Encrypt")
			}
		}
	})
}

var fuzzTokenizer = func() *Tokenizer {
	k, _ := NewKey([]byte("fieldcrypt-fuzz-key-0123456789ab"))
	t, _ := NewTokenizer(k, WithEmailDomain())
	return t
}()

// FuzzFormats: whatever a format accepts, its token keeps the shape and
// detokenizes to the value; nothing panics on any input.
func FuzzFormats(f *testing.F) {
	requireSeeds(f, "FuzzFormats")
	f.Fuzz(func(t *testing.T, formatSeed uint8, value string, tweak []byte) {
		format := Formats[int(formatSeed)%len(Formats)]
		tok, err := fuzzTokenizer.Tokenize(format, tweak, value)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("%s: unexpected error type %T: %v", format, err, err)
			}
			return
		}
		if !sameShape(value, tok) {
			t.Fatalf("%s: token does not keep the shape", format)
		}
		if format == PAN && LuhnValid(digitsOnly(tok)) {
			t.Fatal("pan token passes Luhn")
		}
		back, err := fuzzTokenizer.Detokenize(format, tweak, tok)
		if err != nil || back != value {
			t.Fatalf("%s: round trip failed: %v", format, err)
		}
		// Detokenizing arbitrary input never panics.
		fuzzTokenizer.Detokenize(format, tweak, value)
	})
}

func digitsOnly(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			out = append(out, s[i])
		}
	}
	return string(out)
}
