// Package vaulttoken makes random tokens of a value's shape, for vaulted
// tokenization: the token stands for the value only through a mapping kept
// in a store (keystore.TokenVault), so it reveals nothing of the value and
// works for domains far too small for FF1 (a 4-digit PIN, a birth date, a
// postcode, a three-letter email local part).
//
// A Template is parsed from a value in a Format. It keeps what the format
// keeps in the clear (the same parts as package tokenize keeps: a card's
// first digit and last four, a phone's country code, an email's domain,
// separators) and says how many tokens the value's shape admits (Space).
// Token draws one uniformly from crypto/rand.
//
// Formats: every format of package tokenize (digits of any length here,
// ssn, pan, phone, email, alnum), and the shapes FF1 cannot serve at all:
//
//	date         YYYY-MM-DD; the token is a date from 1900-01-01 to 2099-12-31
//	postcode-us  NNNNN or NNNNN-NNNN
//	postcode-uk  a UK postcode ("SW1A 1AA"): letters stay letters, digits digits
//	postcode-de  NNNNN
//	postcode-nl  NNNN AA (the space optional)
//	postcode-ca  A1A 1A1 (the space optional)
//	text         1 to 256 ASCII letters and digits; each token character is
//	             any of the 62
//
// # Occupancy
//
// Tokens are drawn at random and a drawn token already in use is drawn
// again, so a partition of the vault must stay sparse: Limit is 1/16 of the
// value's Space (at most 6.25% of the tokens of that shape are ever taken),
// so a draw collides with probability below 1/16 and MaxDraws (16) draws
// all collide with probability below 2^-64. A put past the limit is refused
// (keystore.ErrTokenSpaceFull) long before the space fills: a 4-digit PIN
// admits 625 tokens per partition, a date 4,565, a US ZIP code 6,250.
//
// Errors are *tokenize.FormatError values naming the format and a
// position, never the value.
package vaulttoken

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// Format names a token format: tokenize's, and the ones below.
type Format = tokenize.Format

// The formats only vaulted tokens serve.
const (
	Date       Format = "date"
	PostcodeUS Format = "postcode-us"
	PostcodeUK Format = "postcode-uk"
	PostcodeDE Format = "postcode-de"
	PostcodeNL Format = "postcode-nl"
	PostcodeCA Format = "postcode-ca"
	Text       Format = "text"
)

// Formats lists every format a vaulted token can have.
var Formats = append(append([]Format(nil), tokenize.Formats...), Date, PostcodeUS, PostcodeUK, PostcodeDE, PostcodeNL, PostcodeCA, Text)

// MaxValueBytes is the longest value a Template accepts.
const MaxValueBytes = 1024

// MaxDraws is how many tokens a caller should draw for one value before
// giving up (see Occupancy).
const MaxDraws = 16

// ErrTooLong is returned for a value longer than MaxValueBytes.
var ErrTooLong = errors.New("vaulttoken: value too long")

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("vaulttoken: unknown format %q", s)
}

// FF1Capable reports whether package tokenize has format f at all.
func FF1Capable(f Format) bool {
	for _, g := range tokenize.Formats {
		if g == f {
			return true
		}
	}
	return false
}

// slot is one generated character: a radix and the first character of its
// alphabet (10/'0', 26/'A', 26/'a'), or 62 for text.
type slot struct {
	pos   int
	radix int
	base  byte
}

// Template is the shape of one value.
type Template struct {
	f     Format
	s     []byte
	slots []slot
	date  bool // the token is a random date
	luhn  int  // pan: index in s of the digit that makes every token fail the Luhn check; -1 if none
	space float64
	ff1   bool // FF1 (tokenize) would accept the value: a domain of at least tokenize.MinDomain
}

const (
	dateFirst = -25567 // 1900-01-01, in days since 1970-01-01
	dateDays  = 73049  // to 2099-12-31
)

func fail(f Format, format string, args ...any) error {
	return &tokenize.FormatError{Format: f, Reason: fmt.Sprintf(format, args...)}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// Parse returns the template of value in format f.
func Parse(f Format, value string) (*Template, error) {
	if len(value) > MaxValueBytes {
		return nil, ErrTooLong
	}
	if !utf8.ValidString(value) {
		return nil, &tokenize.FormatError{Format: f, Reason: "not valid UTF-8", Err: tokenize.ErrInvalidUTF8}
	}
	t := &Template{f: f, s: []byte(value), luhn: -1}
	var err error
	switch f {
	case tokenize.Digits:
		err = t.pattern("D+", 1, tokenize.MaxLength)
	case tokenize.SSN:
		if len(value) == 11 {
			err = t.fixed("DDD-DD-DDDD")
		} else {
			err = t.fixed("DDDDDDDDD")
		}
	case tokenize.PAN:
		err = t.pan()
	case tokenize.Phone:
		err = t.phone()
	case tokenize.Email:
		err = t.email()
	case tokenize.Alnum:
		t.classed(0, len(t.s))
		if len(t.slots) == 0 {
			err = fail(f, "no letters or digits")
		}
	case Date:
		err = t.parseDate()
	case PostcodeUS:
		if len(value) == 10 {
			err = t.fixed("DDDDD-DDDD")
		} else {
			err = t.fixed("DDDDD")
		}
	case PostcodeDE:
		err = t.fixed("DDDDD")
	case PostcodeNL:
		if len(value) == 7 {
			err = t.fixed("DDDD UU")
		} else {
			err = t.fixed("DDDDUU")
		}
	case PostcodeCA:
		if len(value) == 7 {
			err = t.fixed("UDU DUD")
		} else {
			err = t.fixed("UDUDUD")
		}
	case PostcodeUK:
		err = t.uk()
	case Text:
		err = t.pattern("X+", 1, 256)
	default:
		return nil, fmt.Errorf("vaulttoken: unknown format %q", f)
	}
	if err != nil {
		return nil, err
	}
	if !t.date {
		t.space = 1
		for _, s := range t.slots {
			t.space *= float64(s.radix)
		}
	} else {
		t.space = dateDays
	}
	t.ff1 = FF1Capable(f) && t.space >= tokenize.MinDomain
	return t, nil
}

// pattern accepts a run of one class: "D+" digits, "X+" ASCII
// alphanumerics, of min to max characters.
func (t *Template) pattern(p string, min, max int) error {
	if len(t.s) < min || len(t.s) > max {
		return fail(t.f, "want %d to %d characters", min, max)
	}
	for i, c := range t.s {
		switch {
		case p == "D+" && isDigit(c):
			t.slots = append(t.slots, slot{i, 10, '0'})
		case p == "X+" && (isDigit(c) || isUpper(c) || isLower(c)):
			t.slots = append(t.slots, slot{i, 62, 0})
		default:
			return fail(t.f, "character %d is not allowed", i)
		}
	}
	return nil
}

// fixed accepts exactly the layout p: D a digit, U an upper-case letter
// (a lower-case one is accepted and kept lower-case), anything else itself.
func (t *Template) fixed(p string) error {
	if len(t.s) != len(p) {
		return fail(t.f, "want the layout %s", p)
	}
	for i := range p {
		c := t.s[i]
		switch {
		case p[i] == 'D' && isDigit(c):
			t.slots = append(t.slots, slot{i, 10, '0'})
		case p[i] == 'U' && isUpper(c):
			t.slots = append(t.slots, slot{i, 26, 'A'})
		case p[i] == 'U' && isLower(c):
			t.slots = append(t.slots, slot{i, 26, 'a'})
		case p[i] != 'D' && p[i] != 'U' && p[i] == c:
		default:
			return fail(t.f, "character %d does not fit the layout %s", i, p)
		}
	}
	return nil
}

// classed makes a slot of every ASCII letter and digit of s[from:to],
// keeping its class.
func (t *Template) classed(from, to int) {
	for i := from; i < to; i++ {
		switch c := t.s[i]; {
		case isDigit(c):
			t.slots = append(t.slots, slot{i, 10, '0'})
		case isUpper(c):
			t.slots = append(t.slots, slot{i, 26, 'A'})
		case isLower(c):
			t.slots = append(t.slots, slot{i, 26, 'a'})
		}
	}
}

func (t *Template) pan() error {
	var at []int
	for i, c := range t.s {
		switch {
		case isDigit(c):
			at = append(at, i)
		case (c == ' ' || c == '-') && i > 0 && i < len(t.s)-1:
		default:
			return fail(t.f, "character %d is not a digit, space or dash", i)
		}
	}
	if len(at) < 13 || len(at) > 19 {
		return fail(t.f, "need 13 to 19 digits")
	}
	digits := make([]byte, len(at))
	for k, i := range at {
		digits[k] = t.s[i]
	}
	if !tokenize.LuhnValid(string(digits)) {
		return fail(t.f, "fails the Luhn check: not a card number")
	}
	for _, i := range at[1 : len(at)-5] {
		t.slots = append(t.slots, slot{i, 10, '0'})
	}
	t.luhn = at[len(at)-5]
	return nil
}

func (t *Template) phone() error {
	if len(t.s) < 9 || len(t.s) > 16 || t.s[0] != '+' {
		return fail(t.f, "want E.164: + then 8 to 15 digits")
	}
	for i := 1; i < len(t.s); i++ {
		if !isDigit(t.s[i]) {
			return fail(t.f, "character %d is not a digit", i)
		}
	}
	for i := 1 + countryCodeLen(t.s[1:]); i < len(t.s); i++ {
		t.slots = append(t.slots, slot{i, 10, '0'})
	}
	return nil
}

func (t *Template) email() error {
	at := -1
	for i, c := range t.s {
		if c == '@' {
			if at >= 0 {
				at = -2
				break
			}
			at = i
		}
	}
	if at <= 0 || at == len(t.s)-1 {
		return fail(t.f, "want local@domain")
	}
	t.classed(0, at)
	if len(t.slots) == 0 {
		return fail(t.f, "the local part has no letters or digits")
	}
	return nil
}

func (t *Template) parseDate() error {
	if _, err := time.Parse(time.DateOnly, string(t.s)); err != nil || len(t.s) != 10 {
		return fail(t.f, "want a valid date YYYY-MM-DD")
	}
	t.date = true
	return nil
}

// uk accepts the outward code (A9, A99, AA9, AA99, A9A, AA9A), an optional
// space and the inward code (9AA).
func (t *Template) uk() error {
	s := t.s
	n := len(s)
	if n < 5 || n > 8 {
		return fail(t.f, "want a UK postcode")
	}
	in := n - 3
	if !isDigit(s[in]) || !isUpper(s[in+1]) || !isUpper(s[in+2]) {
		return fail(t.f, "the inward code must be a digit and two letters")
	}
	out := in
	if s[in-1] == ' ' {
		out--
	}
	if out < 2 || out > 4 || !isUpper(s[0]) {
		return fail(t.f, "want a UK postcode")
	}
	for i := 1; i < out; i++ {
		if !isUpper(s[i]) && !isDigit(s[i]) {
			return fail(t.f, "character %d is not a letter or digit", i)
		}
	}
	t.classed(0, out)
	t.classed(in, n)
	return nil
}

// Format returns the template's format.
func (t *Template) Format() Format { return t.f }

// Space is how many tokens the value's shape admits.
func (t *Template) Space() float64 { return t.space }

// Limit is the occupancy limit of a partition for this shape: Space/16,
// at least 1, at most math.MaxInt64.
func (t *Template) Limit() int64 {
	l := t.space / 16
	switch {
	case l < 1:
		return 1
	case l >= math.MaxInt64/2:
		return math.MaxInt64
	}
	return int64(l)
}

// FF1 reports whether package tokenize would tokenize the value (its format
// is one of tokenize's and its domain is at least tokenize.MinDomain).
func (t *Template) FF1() bool { return t.ff1 }

// Token draws a random token of the value's shape from crypto/rand.
func (t *Template) Token() (string, error) { return t.TokenFrom(rand.Reader) }

// TokenFrom draws a random token of the value's shape from r.
func (t *Template) TokenFrom(r io.Reader) (string, error) {
	out := append([]byte(nil), t.s...)
	if t.date {
		d, err := uniform(r, dateDays)
		if err != nil {
			return "", err
		}
		return time.Unix(int64(dateFirst+int(d))*86400, 0).UTC().Format(time.DateOnly), nil
	}
	for _, s := range t.slots {
		v, err := uniform(r, uint64(s.radix))
		if err != nil {
			return "", err
		}
		if s.radix == 62 {
			out[s.pos] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[v]
		} else {
			out[s.pos] = s.base + byte(v)
		}
	}
	if t.luhn >= 0 {
		// The digit that would pass, plus one: no token is a card number.
		var digits []byte
		k := -1
		for i, c := range out {
			if isDigit(c) {
				if i == t.luhn {
					k = len(digits)
				}
				digits = append(digits, c)
			}
		}
		for d := byte('0'); d <= '9'; d++ {
			digits[k] = d
			if tokenize.LuhnValid(string(digits)) {
				out[t.luhn] = '0' + (d-'0'+1)%10
				break
			}
		}
	}
	return string(out), nil
}

// uniform returns a uniform value below n (n >= 1) read from r.
func uniform(r io.Reader, n uint64) (uint64, error) {
	var b [8]byte
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("vaulttoken: random: %w", err)
		}
		v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if v < limit {
			return v % n, nil
		}
	}
}

// countryCodeLen returns the length of the E.164 country code at the start
// of digits, as package tokenize reads it (so the same digits stay).
func countryCodeLen(digits []byte) int {
	switch digits[0] {
	case '1', '7':
		return 1
	}
	switch string(digits[:2]) {
	case "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
		"47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
		"64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98":
		return 2
	}
	return 3
}

// ParseToken returns the template of a token in format f: the template of
// the values the token may stand for. It is Parse, except for pan, whose
// tokens (vaulted or FF1) fail the Luhn check in the one way package
// tokenize makes them fail (the digit before the last four is one more,
// mod 10, than the digit that would pass): ParseToken accepts exactly
// those. A value and its token have the same Space and the same FF1
// answer: tokens keep the value's length, separators and kept characters,
// and each character's class.
func ParseToken(f Format, token string) (*Template, error) {
	if f != tokenize.PAN || len(token) > MaxValueBytes {
		return Parse(f, token)
	}
	b := []byte(token)
	var digits []byte
	var at []int
	for i, c := range b {
		if isDigit(c) {
			digits = append(digits, c)
			at = append(at, i)
		}
	}
	if len(at) >= 13 && len(at) <= 19 {
		// Undo the +1: a token becomes a Luhn-valid number.
		i := at[len(at)-5]
		b[i] = '0' + (b[i]-'0'+9)%10
	}
	t, err := Parse(f, string(b))
	if err != nil {
		return nil, fail(f, "not a token of this format")
	}
	t.s = []byte(token)
	return t, nil
}
