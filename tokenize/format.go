package tokenize

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Format names a token format.
type Format string

// The token formats. Each keeps the shape of its values; what it keeps in
// the clear is listed, everything else is enciphered.
const (
	// Digits: a string of at least 6 ASCII digits, all enciphered.
	Digits Format = "digits"
	// SSN: a US social security number, "NNN-NN-NNNN" or 9 digits; the
	// dashes stay where they are.
	SSN Format = "ssn"
	// PAN: a payment card number of 13 to 19 digits (spaces or dashes
	// between them stay where they are). The first digit and the last 4
	// stay; the token always fails the Luhn check, so it can never be
	// mistaken for a real card. The input must pass the Luhn check.
	PAN Format = "pan"
	// Phone: an E.164 number, "+" then 8 to 15 digits; the country code
	// stays.
	Phone Format = "phone"
	// Email: "local@domain". Each character of the local part keeps its
	// class (digit, upper-case or lower-case ASCII letter); other characters
	// and the domain stay, unless the Tokenizer is built with
	// WithEmailDomain.
	Email Format = "email"
	// Alnum: each ASCII digit, upper-case and lower-case letter keeps its
	// class; every other character stays.
	Alnum Format = "alnum"
)

// Formats lists every format.
var Formats = []Format{Digits, SSN, PAN, Phone, Email, Alnum}

// MaxInputBytes is the longest value or token, in bytes, that Tokenize and
// Detokenize look at: 4 bytes (the longest UTF-8 encoding of a character)
// for each of the MaxLength characters FF1 accepts. Anything longer is
// refused with ErrTooLong before a single byte of it is read, so the cost of
// a refusal does not depend on the input's length.
const MaxInputBytes = 4 * MaxLength

// ErrInvalidValue is wrapped by every *FormatError.
var ErrInvalidValue = errors.New("tokenize: value does not fit its format")

// FormatError says why a value does not fit its format, without echoing it.
type FormatError struct {
	Format Format
	Reason string
	// Err is a more specific cause, wrapped besides ErrInvalidValue
	// (ErrInvalidUTF8), or nil.
	Err error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("tokenize: %s: %s", e.Format, e.Reason)
}

// Unwrap returns ErrInvalidValue and, if set, Err.
func (e *FormatError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidValue}
	}
	return []error{ErrInvalidValue, e.Err}
}

func (f Format) valid() bool {
	switch f {
	case Digits, SSN, PAN, Phone, Email, Alnum:
		return true
	}
	return false
}

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("tokenize: unknown format %q (want one of digits, ssn, pan, phone, email, alnum)", s)
}

// Tokenizer turns values into tokens of the same format and back, under one
// key. It is immutable and safe for concurrent use.
type Tokenizer struct {
	decimal     *FF1 // radix 10, for the digit formats
	binary      *FF1 // radix 2, for cycle-walking mixed-radix domains
	emailDomain bool
}

// TokenizerOption configures a Tokenizer.
type TokenizerOption func(*Tokenizer)

// WithEmailDomain makes the Email format encipher the domain too (each
// character keeping its class; dots and the top-level domain stay).
func WithEmailDomain() TokenizerOption { return func(t *Tokenizer) { t.emailDomain = true } }

// NewTokenizer returns a Tokenizer for every format, keyed by key.
func NewTokenizer(key Key, opts ...TokenizerOption) (*Tokenizer, error) {
	dec, err := NewFF1(key, "0123456789")
	if err != nil {
		return nil, err
	}
	bin, err := NewFF1(key, "01")
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{decimal: dec, binary: bin}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// Tokenize returns the token of value in format f under tweak.
//
// A value longer than MaxInputBytes is refused with ErrTooLong before it is
// read; a value that is not valid UTF-8, or does not fit f, with a
// *FormatError. A value whose enciphered part needs more than MaxLength
// bits or numerals is refused with ErrTooLong, before any arithmetic on it.
func (t *Tokenizer) Tokenize(f Format, tweak []byte, value string) (string, error) {
	return t.apply(f, true, tweak, value)
}

// Detokenize returns the value whose token is token. It refuses what
// Tokenize refuses, the same way.
func (t *Tokenizer) Detokenize(f Format, tweak []byte, token string) (string, error) {
	return t.apply(f, false, tweak, token)
}

func (t *Tokenizer) apply(f Format, encrypt bool, tweak []byte, s string) (string, error) {
	if !f.valid() {
		return "", fmt.Errorf("tokenize: unknown format %q", f)
	}
	// The length first: everything after it costs time linear in len(s).
	if len(s) > MaxInputBytes {
		return "", ErrTooLong
	}
	if !utf8.ValidString(s) {
		return "", &FormatError{Format: f, Reason: "not valid UTF-8", Err: ErrInvalidUTF8}
	}
	switch f {
	case Digits:
		return t.digits(f, encrypt, tweak, s, 0, 0)
	case SSN:
		return t.ssn(encrypt, tweak, s)
	case PAN:
		return t.pan(encrypt, tweak, s)
	case Phone:
		return t.phone(encrypt, tweak, s)
	case Email:
		return t.email(encrypt, tweak, s)
	case Alnum:
		return t.classed(Alnum, encrypt, tweak, s, 0, len(s))
	}
	return "", fmt.Errorf("tokenize: unknown format %q", f)
}

func fail(f Format, format string, args ...any) error {
	return &FormatError{Format: f, Reason: fmt.Sprintf(format, args...)}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits enciphers the digits of s except the first keepHead and the last
// keepTail; every other character of s must be a digit.
func (t *Tokenizer) digits(f Format, encrypt bool, tweak []byte, s string, keepHead, keepTail int) (string, error) {
	if len(s) < 6 {
		return "", fail(f, "need at least 6 digits")
	}
	if len(s) > MaxLength {
		return "", ErrTooLong
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return "", fail(f, "character %d is not a digit", i)
		}
	}
	return t.digitRun(f, encrypt, tweak, s, keepHead, keepTail)
}

// digitRun enciphers the digits (ignoring separators) of s, keeping the
// first keepHead and last keepTail digits.
func (t *Tokenizer) digitRun(f Format, encrypt bool, tweak []byte, s string, keepHead, keepTail int) (string, error) {
	var stack [64]uint16
	var pos [64]int
	x, at := stack[:0], pos[:0]
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			x = append(x, uint16(s[i]-'0'))
			at = append(at, i)
		}
	}
	mid := x[keepHead : len(x)-keepTail]
	if len(mid) < 6 {
		return "", fail(f, "only %d digits would be enciphered: the domain is too small for FF1 (use a vaulted token)", len(mid))
	}
	if err := t.decimal.CryptNumerals(encrypt, tweak, mid); err != nil {
		return "", err
	}
	out := []byte(s)
	for k, i := range at {
		out[i] = byte('0' + x[k])
	}
	return string(out), nil
}

func (t *Tokenizer) ssn(encrypt bool, tweak []byte, s string) (string, error) {
	switch {
	case len(s) == 11 && s[3] == '-' && s[6] == '-':
		for i := 0; i < 11; i++ {
			if i != 3 && i != 6 && !isDigit(s[i]) {
				return "", fail(SSN, "character %d is not a digit", i)
			}
		}
		return t.digitRun(SSN, encrypt, tweak, s, 0, 0)
	case len(s) == 9:
		return t.digits(SSN, encrypt, tweak, s, 0, 0)
	}
	return "", fail(SSN, "want NNN-NN-NNNN or 9 digits")
}

func (t *Tokenizer) phone(encrypt bool, tweak []byte, s string) (string, error) {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' {
		return "", fail(Phone, "want E.164: + then 8 to 15 digits")
	}
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return "", fail(Phone, "character %d is not a digit", i)
		}
	}
	cc := countryCodeLen(s[1:])
	return t.digitRun(Phone, encrypt, tweak, s, cc, 0)
}

// countryCodeLen returns the length of the E.164 country code at the start
// of digits. Country codes are prefix-free: 1 and 7 are one digit; the
// two-digit codes are listed; all others are three digits.
func countryCodeLen(digits string) int {
	switch digits[0] {
	case '1', '7':
		return 1
	}
	switch digits[:2] {
	case "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
		"47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
		"64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98":
		return 2
	}
	return 3
}

// pan tokenizes a card number. A Luhn-valid number's digit just before the
// last four is determined by the others; it is dropped, the other middle
// digits are enciphered, and it is written back as (passing digit + 1) mod
// 10, so that every token fails the Luhn check and detokenizing restores
// the number exactly.
func (t *Tokenizer) pan(encrypt bool, tweak []byte, s string) (string, error) {
	var digitsBuf [19]uint16
	var posBuf [19]int
	x, at := digitsBuf[:0], posBuf[:0]
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
			if len(x) == 19 {
				return "", fail(PAN, "more than 19 digits")
			}
			x = append(x, uint16(s[i]-'0'))
			at = append(at, i)
		case (s[i] == ' ' || s[i] == '-') && i > 0 && i < len(s)-1:
		default:
			return "", fail(PAN, "character %d is not a digit, space or dash", i)
		}
	}
	if len(x) < 13 {
		return "", fail(PAN, "need 13 to 19 digits")
	}
	n := len(x)
	check := n - 5 // the digit before the last four
	pass := luhnDigitAt(x, check)
	if encrypt {
		if x[check] != pass {
			return "", fail(PAN, "fails the Luhn check: not a card number")
		}
	} else if x[check] != (pass+1)%10 {
		return "", fail(PAN, "not a token of this format")
	}
	if err := t.decimal.CryptNumerals(encrypt, tweak, x[1:check]); err != nil {
		return "", err
	}
	x[check] = luhnDigitAt(x, check)
	if encrypt {
		x[check] = (x[check] + 1) % 10
	}
	out := []byte(s)
	for k, i := range at {
		out[i] = byte('0' + x[k])
	}
	return string(out), nil
}

// luhnDigitAt returns the value of digit k that makes x pass the Luhn check,
// whatever x[k] holds now.
func luhnDigitAt(x []uint16, k int) uint16 {
	n := len(x)
	sum := 0
	doubled := func(i int) bool { return (n-1-i)%2 == 1 } // from the right, every second digit
	for i, d := range x {
		if i == k {
			continue
		}
		v := int(d)
		if doubled(i) {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	for d := uint16(0); d < 10; d++ {
		v := int(d)
		if doubled(k) {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		if (sum+v)%10 == 0 {
			return d
		}
	}
	panic("unreachable: some digit completes a Luhn sum")
}

// LuhnValid reports whether a string of digits passes the Luhn check.
func LuhnValid(digits string) bool {
	sum := 0
	for i := 0; i < len(digits); i++ {
		c := digits[len(digits)-1-i]
		if !isDigit(c) {
			return false
		}
		v := int(c - '0')
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return len(digits) > 0 && sum%10 == 0
}

func (t *Tokenizer) email(encrypt bool, tweak []byte, s string) (string, error) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[:at], '@') >= 0 {
		return "", fail(Email, "want local@domain")
	}
	if !t.emailDomain {
		return t.classed(Email, encrypt, tweak, s, 0, at)
	}
	// The domain but its last label: "mail.example" of "mail.example.com".
	end := strings.LastIndexByte(s, '.')
	if end <= at {
		end = len(s)
	}
	// Separate tweaks for the two parts; fresh slices, never the caller's.
	local, err := t.classed(Email, encrypt, suffixed(tweak, 'L'), s, 0, at)
	if err != nil {
		return "", err
	}
	return t.classed(Email, encrypt, suffixed(tweak, 'D'), local, at+1, end)
}

func suffixed(tweak []byte, c byte) []byte {
	return append(append(make([]byte, 0, len(tweak)+1), tweak...), c)
}

// classed enciphers s[from:to] keeping each character's class: ASCII
// digits stay digits, upper-case letters upper-case, lower-case letters
// lower-case; other characters stay as they are. The characters form a
// mixed-radix number below N (the product of their class sizes); it is
// enciphered with binary FF1 over the bits of N-1 and cycle-walked until
// it is below N again.
//
// A first pass counts the characters and bounds N from below; a domain of
// more than MaxLength bits, which FF1 would refuse, is refused there, before
// any math/big arithmetic (whose cost grows with the square of the length).
func (t *Tokenizer) classed(f Format, encrypt bool, tweak []byte, s string, from, to int) (string, error) {
	// Lower bounds of log2(10) and log2(26), in thousandths of a bit: if
	// the sum exceeds MaxLength bits, N-1 has more than MaxLength bits, so
	// the bound never refuses a value FF1 would accept.
	const digitMilliBits, letterMilliBits = 3321, 4700
	n, milliBits := 0, 0
	for i := from; i < to; i++ {
		switch radix, _ := classOf(s[i]); radix {
		case 10:
			milliBits += digitMilliBits
		case 26:
			milliBits += letterMilliBits
		default:
			continue
		}
		if n++; milliBits > MaxLength*1000 {
			return "", ErrTooLong
		}
	}

	pos := make([]int, 0, n)
	value, size := new(big.Int), big.NewInt(1)
	r, d := new(big.Int), new(big.Int)
	for i := from; i < to; i++ {
		radix, base := classOf(s[i])
		if radix == 0 {
			continue
		}
		pos = append(pos, i)
		r.SetInt64(radix)
		value.Mul(value, r).Add(value, d.SetInt64(int64(s[i]-base)))
		size.Mul(size, r)
	}
	if size.Cmp(big.NewInt(MinDomain)) < 0 {
		return "", fail(f, "only %d letters and digits would be enciphered: the domain is too small for FF1 (use a vaulted token)", len(pos))
	}
	nbits := new(big.Int).Sub(size, big.NewInt(1)).BitLen()
	bitsBuf := make([]uint16, nbits)
	for {
		for i := range nbits {
			bitsBuf[nbits-1-i] = uint16(value.Bit(i))
		}
		if err := t.binary.CryptNumerals(encrypt, tweak, bitsBuf); err != nil {
			return "", err
		}
		value.SetInt64(0)
		for _, b := range bitsBuf {
			value.Lsh(value, 1).Or(value, d.SetInt64(int64(b)))
		}
		if value.Cmp(size) < 0 {
			break
		}
	}
	out := []byte(s)
	for k := len(pos) - 1; k >= 0; k-- {
		radix, base := classOf(s[pos[k]])
		r.SetInt64(radix)
		value.QuoRem(value, r, d)
		out[pos[k]] = base + byte(d.Int64())
	}
	return string(out), nil
}

// classOf returns the radix of c's class and its first character: 10 and
// '0' for an ASCII digit, 26 and 'A' or 'a' for an ASCII letter; 0 for any
// other byte, which stays as it is.
func classOf(c byte) (radix int64, base byte) {
	switch {
	case c >= '0' && c <= '9':
		return 10, '0'
	case c >= 'A' && c <= 'Z':
		return 26, 'A'
	case c >= 'a' && c <= 'z':
		return 26, 'a'
	}
	return 0, 0
}
