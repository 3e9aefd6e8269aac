package tokenize

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func newTokenizer(t testing.TB, opts ...TokenizerOption) *Tokenizer {
	t.Helper()
	tk, err := NewTokenizer(GenerateKey(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// sameShape reports whether a and b have the same length and, at every
// position, characters of the same class, with non-alphanumerics equal.
func sameShape(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := rune(a[i]), rune(b[i])
		switch {
		case unicode.IsDigit(x):
			if !unicode.IsDigit(y) {
				return false
			}
		case x < 128 && unicode.IsUpper(x):
			if !(y < 128 && unicode.IsUpper(y)) {
				return false
			}
		case x < 128 && unicode.IsLower(x):
			if !(y < 128 && unicode.IsLower(y)) {
				return false
			}
		default:
			if x != y {
				return false
			}
		}
	}
	return true
}

func TestFormatsRoundTripAndKeepShape(t *testing.T) {
	tk := newTokenizer(t)
	cases := []struct {
		f     Format
		value string
		kept  func(v, tok string) bool // what the format promises to keep
	}{
		{Digits, "123456", nil},
		{Digits, "00000000000000000000000000000000000000000000000000000000000000000000000001", nil},
		{SSN, "078-05-1120", func(v, tok string) bool { return tok[3] == '-' && tok[6] == '-' }},
		{SSN, "078051120", nil},
		{PAN, "4111111111111111", panKept},
		{PAN, "4111 1111 1111 1111", panKept},
		{PAN, "5500-0000-0000-0004", panKept},
		{PAN, "4222222222222", panKept},       // 13 digits
		{PAN, "6011000990139424009", panKept}, // 19 digits
		{Phone, "+442079460000", func(v, tok string) bool { return tok[:3] == "+44" }},
		{Phone, "+14155552671", func(v, tok string) bool { return tok[:2] == "+1" }},
		{Phone, "+35312345678", func(v, tok string) bool { return tok[:4] == "+353" }},
		{Email, "ada.lovelace+notes@example.com", func(v, tok string) bool { return strings.HasSuffix(tok, "@example.com") }},
		{Email, "Grace.Hopper1906@navy.mil", func(v, tok string) bool { return strings.HasSuffix(tok, "@navy.mil") }},
		{Alnum, "AB-1234-xyz", nil},
		{Alnum, "Ünïcode stays: ab12CD", nil},
	}
	for _, c := range cases {
		tok, err := tk.Tokenize(c.f, []byte("field"), c.value)
		if err != nil {
			t.Errorf("%s %q: Tokenize: %v", c.f, c.value, err)
			continue
		}
		if tok == c.value {
			t.Errorf("%s %q: token equals the value", c.f, c.value)
		}
		if !sameShape(c.value, tok) {
			t.Errorf("%s %q: token %q does not keep the shape", c.f, c.value, tok)
		}
		if c.kept != nil && !c.kept(c.value, tok) {
			t.Errorf("%s %q: token %q does not keep what the format promises", c.f, c.value, tok)
		}
		back, err := tk.Detokenize(c.f, []byte("field"), tok)
		if err != nil || back != c.value {
			t.Errorf("%s %q: Detokenize(%q) = %q, %v", c.f, c.value, tok, back, err)
		}
	}
}

func panKept(v, tok string) bool {
	digits := func(s string) string {
		return strings.Map(func(r rune) rune { return map[bool]rune{true: r, false: -1}[r >= '0' && r <= '9'] }, s)
	}
	dv, dt := digits(v), digits(tok)
	return dv[0] == dt[0] && dv[len(dv)-4:] == dt[len(dt)-4:] && LuhnValid(dv) && !LuhnValid(dt)
}

// TestPANTokensNeverPassLuhn tokenizes many real-shaped card numbers.
func TestPANTokensNeverPassLuhn(t *testing.T) {
	tk := newTokenizer(t)
	for i := range 2000 {
		n := 13 + i%7
		x := make([]uint16, n)
		for k := range x {
			x[k] = uint16((i*7 + k*13 + k*k) % 10)
		}
		x[n-5] = luhnDigitAt(x, n-5)
		var b strings.Builder
		for _, d := range x {
			b.WriteByte(byte('0' + d))
		}
		pan := b.String()
		if !LuhnValid(pan) {
			t.Fatalf("test card %s is not Luhn-valid", pan)
		}
		tok, err := tk.Tokenize(PAN, nil, pan)
		if err != nil {
			t.Fatal(err)
		}
		if LuhnValid(tok) {
			t.Fatalf("token of a %d-digit card passes Luhn", n)
		}
		if back, err := tk.Detokenize(PAN, nil, tok); err != nil || back != pan {
			t.Fatalf("round trip of a %d-digit card failed: %v", n, err)
		}
	}
}

func TestEmailDomainOption(t *testing.T) {
	tk := newTokenizer(t, WithEmailDomain())
	v := "ada.lovelace@mail.example.com"
	tok, err := tk.Tokenize(Email, nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tok, ".com") || strings.Contains(tok, "example") || !sameShape(v, tok) {
		t.Errorf("token %q: want the domain enciphered but its shape and TLD kept", tok)
	}
	if back, err := tk.Detokenize(Email, nil, tok); err != nil || back != v {
		t.Errorf("Detokenize = %q, %v", back, err)
	}
}

func TestFormatErrors(t *testing.T) {
	tk := newTokenizer(t)
	cases := []struct {
		f      Format
		value  string
		reason string
	}{
		{Digits, "12345", "at least 6"},
		{Digits, "12345a7", "not a digit"},
		{SSN, "078-05-112", "NNN-NN-NNNN"},
		{SSN, "07a-05-1120", "not a digit"},
		{PAN, "4111111111111112", "Luhn"},
		{PAN, "411111111111", "13 to 19"},
		{PAN, "41111111111111111111", "more than 19"},
		{PAN, "4111x11111111111", "not a digit"},
		{PAN, " 4111111111111111", "not a digit"},
		{Phone, "442079460000", "E.164"},
		{Phone, "+4420794600a0", "not a digit"},
		{Phone, "+35312345", "domain is too small"}, // 3-digit country code leaves 5 digits
		{Email, "no-at-sign", "local@domain"},
		{Email, "@example.com", "local@domain"},
		{Email, "ada@example.com", "domain is too small"}, // 26^3 values
		{Alnum, "ab-12", "domain is too small"},
	}
	for _, c := range cases {
		_, err := tk.Tokenize(c.f, nil, c.value)
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidValue) || !strings.Contains(fe.Reason, c.reason) {
			t.Errorf("%s %q: %v, want a FormatError about %q", c.f, c.value, err, c.reason)
			continue
		}
		if len(c.value) >= 6 && strings.Contains(err.Error(), c.value[1:6]) {
			t.Errorf("%s: error %q echoes the value", c.f, err)
		}
	}
	// A Luhn-valid number is not a token: detokenizing it is refused.
	if _, err := tk.Detokenize(PAN, nil, "4111111111111111"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Detokenize of a real card number = %v, want ErrInvalidValue", err)
	}
	if _, err := ParseFormat("iban"); err == nil {
		t.Error("ParseFormat accepted an unknown format")
	}
}

func TestTokensDependOnKeyAndTweak(t *testing.T) {
	a, b := newTokenizer(t), newTokenizer(t)
	v := "4111111111111111"
	t1, _ := a.Tokenize(PAN, []byte("x"), v)
	t2, _ := a.Tokenize(PAN, []byte("y"), v)
	t3, _ := b.Tokenize(PAN, []byte("x"), v)
	t4, _ := a.Tokenize(PAN, []byte("x"), v)
	if t1 == t2 || t1 == t3 || t1 != t4 {
		t.Errorf("tokens: same key+tweak equal %v, other tweak differs %v, other key differs %v", t1 == t4, t1 != t2, t1 != t3)
	}
}
