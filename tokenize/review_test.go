package tokenize

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Regression tests for the findings of the 2026-11 security review
// (shared/reviews/security-2026-11.md) that concern this package.

// longInputs are 1 MiB values of every shape the review tried: digits,
// spaces, letters and an email address, each fed to every format.
func longInputs() map[string]string {
	const mib = 1 << 20
	return map[string]string{
		"digits":  strings.Repeat("7", mib),
		"spaces":  "4" + strings.Repeat(" ", mib-2) + "1",
		"letters": strings.Repeat("aZ", mib/2),
		"email":   strings.Repeat("a1", (mib-12)/2) + "@example.com",
	}
}

// TestReviewH2LongInputRefusedBeforeWork (finding H2): a 1 MiB value of any
// shape, through Tokenize and Detokenize of every format, is refused with
// ErrTooLong before any work that depends on its length: the refusal
// allocates nothing (the old code built a math/big number of the whole
// value, a quadratic cost of ~35 s per call), and, as a sanity check with a
// very generous margin, takes far less than a second.
func TestReviewH2LongInputRefusedBeforeWork(t *testing.T) {
	tk := newTokenizer(t, WithEmailDomain())
	for name, value := range longInputs() {
		for _, f := range Formats {
			for _, op := range []struct {
				name string
				fn   func(Format, []byte, string) (string, error)
			}{{"Tokenize", tk.Tokenize}, {"Detokenize", tk.Detokenize}} {
				t.Run(name+"/"+string(f)+"/"+op.name, func(t *testing.T) {
					start := time.Now()
					out, err := op.fn(f, []byte("field"), value)
					if elapsed := time.Since(start); elapsed > time.Second {
						t.Errorf("refusal took %v", elapsed)
					}
					if !errors.Is(err, ErrTooLong) || out != "" {
						t.Fatalf("got %d bytes, %v; want ErrTooLong", len(out), err)
					}
					allocs := testing.AllocsPerRun(3, func() { op.fn(f, nil, value) })
					if allocs != 0 {
						t.Errorf("refusal allocated %.0f times; want 0 (refused before any work on the value)", allocs)
					}
				})
			}
		}
	}
}

// TestReviewH2ClassedBoundsDomainBeforeBigInt (finding H2): the mixed-radix
// formats refuse a domain over MaxLength bits from a count of characters,
// before any math/big arithmetic, whatever reaches them (here: values just
// under MaxInputBytes, which pass the up-front byte limit).
func TestReviewH2ClassedBoundsDomainBeforeBigInt(t *testing.T) {
	tk := newTokenizer(t)
	for name, s := range map[string]string{
		"digits":  strings.Repeat("9", MaxInputBytes),
		"letters": strings.Repeat("Zz", MaxInputBytes/2),
		"mixed":   strings.Repeat("a-1.", MaxInputBytes/4),
	} {
		for _, encrypt := range []bool{true, false} {
			_, err := tk.classed(Alnum, encrypt, nil, s, 0, len(s))
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("%s: %v, want ErrTooLong", name, err)
			}
			allocs := testing.AllocsPerRun(3, func() { tk.classed(Alnum, encrypt, nil, s, 0, len(s)) })
			if allocs != 0 {
				t.Errorf("%s: refusal allocated %.0f times; want 0 (no math/big before the bound)", name, allocs)
			}
		}
	}
}

// TestReviewH2ClassedLimitIsExact: the early bound never refuses a value
// that FF1 itself accepts. Mixed-radix values up to 4,096 bits round trip;
// one character more is ErrTooLong.
func TestReviewH2ClassedLimitIsExact(t *testing.T) {
	tk := newTokenizer(t)
	for _, c := range []struct {
		unit    string
		fits    int // the most characters whose domain has at most 4,096 bits
		tooLong int
	}{
		{"7", 1233, 1234}, // 10^1233 < 2^4096 < 10^1234
		{"q", 871, 872},   // 26^871 < 2^4096 < 26^872
	} {
		fits := strings.Repeat(c.unit, c.fits)
		tok, err := tk.Tokenize(Alnum, nil, fits)
		if err != nil {
			t.Fatalf("%d x %q: %v", c.fits, c.unit, err)
		}
		if back, err := tk.Detokenize(Alnum, nil, tok); err != nil || back != fits {
			t.Fatalf("%d x %q: round trip failed: %v", c.fits, c.unit, err)
		}
		if _, err := tk.Tokenize(Alnum, nil, strings.Repeat(c.unit, c.tooLong)); !errors.Is(err, ErrTooLong) {
			t.Errorf("%d x %q: %v, want ErrTooLong", c.tooLong, c.unit, err)
		}
	}
	// The byte limit itself: a value of MaxInputBytes bytes is accepted,
	// one more byte is refused before anything else.
	sparse := strings.Repeat("é", MaxInputBytes/2-5) + "ab12cd34ef" // valid UTF-8, 10 classed
	if len(sparse) != MaxInputBytes {
		t.Fatalf("test value is %d bytes", len(sparse))
	}
	if tok, err := tk.Tokenize(Alnum, nil, sparse); err != nil {
		t.Errorf("%d bytes with 10 classed characters: %v", len(sparse), err)
	} else if back, err := tk.Detokenize(Alnum, nil, tok); err != nil || back != sparse {
		t.Errorf("round trip failed: %v", err)
	}
	if _, err := tk.Tokenize(Alnum, nil, sparse+"-"); !errors.Is(err, ErrTooLong) {
		t.Errorf("MaxInputBytes+1 bytes: %v, want ErrTooLong", err)
	}
}

// BenchmarkRefuseLongInput (finding H2) measures the cost of refusing a
// 1 MiB value, per format and direction.
func BenchmarkRefuseLongInput(b *testing.B) {
	tk, _ := NewTokenizer(GenerateKey(), WithEmailDomain())
	inputs := longInputs()
	for _, f := range Formats {
		value := inputs["digits"]
		switch f {
		case PAN:
			value = inputs["spaces"]
		case Email:
			value = inputs["email"]
		case Alnum:
			value = inputs["letters"]
		}
		for _, op := range []struct {
			name string
			fn   func(Format, []byte, string) (string, error)
		}{{"Tokenize", tk.Tokenize}, {"Detokenize", tk.Detokenize}} {
			b.Run(string(f)+"/"+op.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := op.fn(f, nil, value); !errors.Is(err, ErrTooLong) {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestReviewUTF8InvalidInputRefused: input that is not valid UTF-8 is
// refused, by every format and by FF1, even where the alphabet holds
// U+FFFD (which is what an invalid byte decodes to, so the bytes would not
// survive the round trip).
func TestReviewUTF8InvalidInputRefused(t *testing.T) {
	tk := newTokenizer(t, WithEmailDomain())
	bad := map[Format]string{
		Digits: "123456\xff",
		SSN:    "078-05-1120\xc3",
		PAN:    "4111111111111111\x80",
		Phone:  "+442079460000\xff",
		Email:  "ada.lov\xe9lace@example.com",
		Alnum:  "AB-1234-xyz\xed\xa0\x80", // an encoded UTF-16 surrogate
	}
	for _, f := range Formats {
		for _, op := range []struct {
			name string
			fn   func(Format, []byte, string) (string, error)
		}{{"Tokenize", tk.Tokenize}, {"Detokenize", tk.Detokenize}} {
			out, err := op.fn(f, nil, bad[f])
			var fe *FormatError
			if !errors.Is(err, ErrInvalidUTF8) || !errors.Is(err, ErrInvalidValue) || !errors.As(err, &fe) || out != "" {
				t.Errorf("%s %s: %q, %v; want a FormatError wrapping ErrInvalidUTF8", f, op.name, out, err)
				continue
			}
			if fe.Format != f || strings.Contains(err.Error(), bad[f][2:6]) {
				t.Errorf("%s %s: error %q names the wrong format or echoes the value", f, op.name, err)
			}
		}
	}

	// FF1 over an alphabet holding U+FFFD.
	ff, err := NewFF1(GenerateKey(), "0123456789\uFFFD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ff.Encrypt(nil, "\uFFFD12345678"); err != nil {
		t.Fatalf("valid U+FFFD: %v", err)
	}
	for _, s := range []string{"\xff12345678", "1234\xc35678", "12345678\xed\xa0\x80"} {
		if _, err := ff.Encrypt(nil, s); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("Encrypt(%q) = %v, want ErrInvalidUTF8", s, err)
		}
		if _, err := ff.Decrypt(nil, s); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("Decrypt(%q) = %v, want ErrInvalidUTF8", s, err)
		}
	}
}

// BenchmarkRefuseAtByteLimit (finding H2) measures the most work a refusal
// can cost: values of exactly MaxInputBytes bytes, which pass the up-front
// byte limit and are refused by the format (the digit count, or the
// mixed-radix domain bound).
func BenchmarkRefuseAtByteLimit(b *testing.B) {
	tk, _ := NewTokenizer(GenerateKey(), WithEmailDomain())
	digits := strings.Repeat("7", MaxInputBytes)
	for _, c := range []struct {
		f     Format
		value string
	}{
		{Digits, digits},
		{PAN, "4" + strings.Repeat(" ", MaxInputBytes-2) + "1"},
		{Email, digits[:MaxInputBytes-12] + "@example.com"},
		{Alnum, digits},
	} {
		b.Run(string(c.f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.Tokenize(c.f, nil, c.value); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
