package blindindex

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxCut is the largest N of firstN and lastN.
const MaxCut = 1024

// Transform normalises a value before it is hashed, so that values a
// person considers equal ("Ann@Example.com " and "ann@example.com") get
// the same term. The zero Transform is the identity. A Transform is a
// small comparable value, safe for concurrent use.
//
// Parse one with ParseTransform; see the package documentation for the
// grammar and the order in which steps apply.
type Transform struct {
	norm   uint8 // normNone, normNFC, normNFKC
	trim   bool
	email  uint8 // emailNone, emailLocal, emailDomain
	fold   bool
	digits bool
	cut    uint8 // cutNone, cutFirst, cutLast
	n      int   // of cut
}

const (
	normNone uint8 = iota
	normNFC
	normNFKC
)

const (
	emailNone uint8 = iota
	emailLocal
	emailDomain
)

const (
	cutNone uint8 = iota
	cutFirst
	cutLast
)

// The rank of each step: steps must be written in this order, which is
// the order they apply in. Steps of the same rank exclude each other.
const (
	rankNorm = iota + 1
	rankTrim
	rankEmail
	rankFold
	rankDigits
	rankCut
)

// ParseTransform parses a transform spec: steps joined by '+', written in
// the order they apply (nfc|nfkc, trim, email-local|email-domain, fold,
// digits, firstN|lastN), each at most once. The empty spec is the
// identity. A malformed spec is a *SpecError naming the offending step.
func ParseTransform(spec string) (Transform, error) {
	var t Transform
	if spec == "" {
		return t, nil
	}
	last, lastTok := 0, ""
	for tok := range strings.SplitSeq(spec, "+") {
		rank, err := t.set(tok)
		if err != nil {
			return Transform{}, err
		}
		switch {
		case rank == last:
			if tok == lastTok {
				return Transform{}, &SpecError{Option: tok, Reason: "step given twice"}
			}
			return Transform{}, &SpecError{Option: tok, Reason: "cannot be combined with " + lastTok}
		case rank < last:
			return Transform{}, &SpecError{Option: tok, Reason: "must come before " + lastTok + " (steps are written in the order they apply: nfc|nfkc, trim, email-local|email-domain, fold, digits, firstN|lastN)"}
		}
		last, lastTok = rank, tok
	}
	return t, nil
}

// set records one step and returns its rank.
func (t *Transform) set(tok string) (int, error) {
	switch tok {
	case "":
		return 0, &SpecError{Option: tok, Reason: "empty step (steps are joined by a single '+')"}
	case "nfc":
		t.norm = normNFC
		return rankNorm, nil
	case "nfkc":
		t.norm = normNFKC
		return rankNorm, nil
	case "trim":
		t.trim = true
		return rankTrim, nil
	case "email-local":
		t.email = emailLocal
		return rankEmail, nil
	case "email-domain":
		t.email = emailDomain
		return rankEmail, nil
	case "fold":
		t.fold = true
		return rankFold, nil
	case "digits":
		t.digits = true
		return rankDigits, nil
	}
	for _, c := range []struct {
		prefix string
		kind   uint8
	}{{"first", cutFirst}, {"last", cutLast}} {
		num, ok := strings.CutPrefix(tok, c.prefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > MaxCut || num[0] == '0' || num[0] == '+' {
			return 0, &SpecError{Option: tok, Reason: "needs a count from 1 to " + strconv.Itoa(MaxCut) + ", as in " + c.prefix + "4"}
		}
		t.cut, t.n = c.kind, n
		return rankCut, nil
	}
	return 0, &SpecError{Option: tok, Reason: "unknown transform step (known: nfc, nfkc, trim, email-local, email-domain, fold, digits, firstN, lastN)"}
}

// IsIdentity reports whether t changes nothing.
func (t Transform) IsIdentity() bool { return t == Transform{} }

// String returns the canonical spec of t, which ParseTransform parses
// back to t ("" for the identity).
func (t Transform) String() string {
	var steps []string
	switch t.norm {
	case normNFC:
		steps = append(steps, "nfc")
	case normNFKC:
		steps = append(steps, "nfkc")
	}
	if t.trim {
		steps = append(steps, "trim")
	}
	switch t.email {
	case emailLocal:
		steps = append(steps, "email-local")
	case emailDomain:
		steps = append(steps, "email-domain")
	}
	if t.fold {
		steps = append(steps, "fold")
	}
	if t.digits {
		steps = append(steps, "digits")
	}
	switch t.cut {
	case cutFirst:
		steps = append(steps, "first"+strconv.Itoa(t.n))
	case cutLast:
		steps = append(steps, "last"+strconv.Itoa(t.n))
	}
	return strings.Join(steps, "+")
}

// Apply returns s transformed. The identity accepts any bytes; every
// other transform refuses a value that is not valid UTF-8, and
// email-local / email-domain refuse a value that is not an address. Such
// refusals are a *ValueError, which never holds the value. The result of
// a valid UTF-8 value is valid UTF-8.
func (t Transform) Apply(s string) (string, error) { return t.apply(0, s) }

func (t Transform) apply(input int, s string) (string, error) {
	if t.IsIdentity() {
		return s, nil
	}
	// ASCII is the common case and is its own NFC and NFKC form, and its
	// case folding is lowering A-Z: both are done without x/text, which is
	// most of a term's cost otherwise. (Every step below keeps ASCII
	// ASCII, so the flag stays true.)
	ascii := isASCII(s)
	if !ascii && !utf8.ValidString(s) {
		return "", &ValueError{Input: input, Step: t.String(), Err: ErrInvalidUTF8}
	}
	switch {
	case ascii:
	case t.norm == normNFC:
		s = normalize(norm.NFC, s)
	case t.norm == normNFKC:
		s = normalize(norm.NFKC, s)
	}
	if t.trim {
		s = strings.TrimSpace(s)
	}
	if t.email != emailNone {
		at := strings.LastIndexByte(s, '@')
		if at <= 0 || at == len(s)-1 {
			return "", &ValueError{Input: input, Step: emailStep(t.email), Err: ErrNotEmail}
		}
		if t.email == emailLocal {
			s = s[:at]
		} else {
			d, err := domain(s[at+1:])
			if err != nil {
				return "", &ValueError{Input: input, Step: emailStep(t.email), Err: ErrNotEmail}
			}
			s = d
		}
	}
	if t.fold && ascii {
		s = lowerASCII(s)
	} else if t.fold {
		// A Caser is stateful: one per call, never shared.
		s = cases.Fold().String(s)
	}
	if t.digits {
		s = keepDigits(s)
	}
	switch t.cut {
	case cutFirst:
		s = firstRunes(s, t.n)
	case cutLast:
		s = lastRunes(s, t.n)
	}
	return s, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII is Unicode case folding for an ASCII string: A-Z to a-z
// (no ASCII letter folds to anything else). It allocates only when
// something changes.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

func emailStep(kind uint8) string {
	if kind == emailLocal {
		return "email-local"
	}
	return "email-domain"
}

func normalize(f norm.Form, s string) string {
	if f.IsNormalString(s) {
		return s
	}
	return f.String(s)
}

// domain maps an email domain to its lowercase ASCII (A-label) form with
// IDNA's lookup profile (UTS #46 mapping, so "Bücher.Example" and
// "xn--bcher-kva.example" agree), without a trailing root dot.
func domain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", ErrNotEmail
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil || a == "" {
		return "", ErrNotEmail
	}
	return strings.ToLower(a), nil
}

// keepDigits keeps the ASCII digits 0-9 (after nfkc, most other digit
// forms, such as fullwidth ones, have become ASCII).
func keepDigits(s string) string {
	all := true
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			all = false
			break
		}
	}
	if all {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// firstRunes returns the first n code points of s (all of s if shorter).
func firstRunes(s string, n int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// lastRunes returns the last n code points of s (all of s if shorter).
func lastRunes(s string, n int) string {
	i := len(s)
	for k := 0; k < n && i > 0; k++ {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return s[i:]
}
