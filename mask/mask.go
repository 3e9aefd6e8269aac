// Package mask shows a part of a personal value, for people who need to
// recognise it but not read it: the last four digits of a card, the first
// letter of a name, the domain of an email address.
//
//	mask.Apply(mask.Last4, "4111111111111111") // "••••••••••••1111"
//	mask.Apply(mask.First1, "Ada")             // "A•••"
//	mask.Apply(mask.Email, "ada@example.com")  // "•••@example.com"
//	mask.Apply(mask.Redact, "anything")        // "••••••••"
//
// Every masked value contains the mask rune • (U+2022 BULLET), and nothing
// else is hidden in it: it is neither plaintext nor a ciphertext (a
// fieldcrypt ciphertext is ASCII and starts with "fc"), and [IsMasked]
// tells it apart. pii refuses to Seal a masked value back into a field
// with a mask, so that saving a record opened for display cannot overwrite
// the real value with its mask.
//
// What each mask reveals: Last4 the length and the last four runes (values
// of four runes or fewer are redacted whole); First1 the first rune only
// (three bullets follow whatever the length); Email the domain (the local
// part becomes three bullets whatever its length; a value without exactly
// one @ and a non-empty domain is redacted whole); Redact nothing (eight
// bullets whatever the length). Masks never fail on a value: a value a
// mask cannot apply to is redacted whole, never shown.
package mask

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Rune is the character that stands for hidden characters.
const Rune = '•'

// Kind names a mask.
type Kind string

// The masks.
const (
	Last4  Kind = "last4"
	First1 Kind = "first1"
	Email  Kind = "email"
	Redact Kind = "redact"
)

// ErrUnknownKind is returned for a mask name that is not one of the Kinds.
var ErrUnknownKind = errors.New("mask: unknown mask")

// Parse returns the Kind named s.
func Parse(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Last4, First1, Email, Redact:
		return k, nil
	}
	return "", fmt.Errorf("%w %q: want last4, first1, email or redact", ErrUnknownKind, s)
}

const (
	bullets3 = "•••"
	bullets8 = "••••••••"
)

// Apply masks s with k. It returns an error only for an unknown k.
func Apply(k Kind, s string) (string, error) {
	switch k {
	case Last4:
		n := utf8.RuneCountInString(s)
		if n <= 4 {
			return strings.Repeat(string(Rune), max(n, 4)), nil
		}
		cut := len(s)
		for range 4 {
			_, size := utf8.DecodeLastRuneInString(s[:cut])
			cut -= size
		}
		return strings.Repeat(string(Rune), n-4) + s[cut:], nil
	case First1:
		if s == "" {
			return bullets3, nil
		}
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError {
			return bullets3, nil
		}
		return s[:size] + bullets3, nil
	case Email:
		local, domain, ok := strings.Cut(s, "@")
		if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || !utf8.ValidString(domain) {
			return bullets8, nil
		}
		return bullets3 + "@" + domain, nil
	case Redact:
		return bullets8, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownKind, string(k))
}

// IsMasked reports whether s is (or contains) a masked value.
func IsMasked(s string) bool { return strings.ContainsRune(s, Rune) }
