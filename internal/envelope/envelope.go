// Package envelope is the wire format of a sealed field, and the associated
// data that binds it to its place.
//
// # Text form (string fields)
//
//	"fc" VERSION MODE "." BASE64URL(CIPHERTEXT)
//
//	VERSION    one ASCII digit; this package writes and reads "1"
//	MODE       'a' randomized AEAD (Tink AES-256-GCM)
//	           'd' deterministic AEAD (Tink AES-SIV)
//	BASE64URL  RFC 4648 §5 alphabet, no padding, no line breaks, canonical
//	           (unused trailing bits must be zero)
//	CIPHERTEXT Tink's output: a 5-byte prefix (0x01 and the 4-byte key id)
//	           followed by the primitive's ciphertext
//
// For example "fc1a.AR2-3cQ…". The result is plain ASCII and fits any text
// column.
//
// # Binary form ([]byte fields)
//
//	0xFC VERSION MODE CIPHERTEXT
//
// with VERSION the byte 0x01 and MODE the byte 'a' or 'd'.
//
// # Associated data
//
// Every field ciphertext is bound to the subject it belongs to, the scope of
// the struct type that holds it and the field's stable name:
//
//	"fieldcrypt/field/v1" || LEN(subject) || subject || LEN(scope) || scope || LEN(field) || field
//
// where LEN is a 4-byte big-endian length. A ciphertext moved to another
// field, another record, another person or another struct type fails to open.
//
// # Compatibility promise
//
// Values written in version 1 will be readable by every later release.
// A new format gets a new version digit; the parser refuses versions it does
// not know rather than guessing. Parsing is strict: a value is either exactly
// what this package would write, or an error.
package envelope

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Mode says which primitive produced a ciphertext.
type Mode byte

// The modes.
const (
	Randomized    Mode = 'a'
	Deterministic Mode = 'd'
)

// Version is the format version this package writes.
const Version = 1

const (
	textVersion = '0' + Version
	binaryMagic = 0xFC
	tinkPrefix  = 5 // Tink's output prefix: version byte and key id

	// Shortest valid ciphertexts: Tink prefix, then 12-byte nonce and
	// 16-byte tag for AES-GCM, 16-byte synthetic IV for AES-SIV.
	minRandomized    = tinkPrefix + 12 + 16
	minDeterministic = tinkPrefix + 16
)

// TextPrefixLen is the length of the text form's prefix ("fc1a.").
const TextPrefixLen = 5

// Errors returned by the parsers. Messages never include the value.
var (
	// ErrNotSealed: the value does not start with a ciphertext prefix.
	ErrNotSealed = errors.New("envelope: value is not sealed")
	// ErrUnsupportedVersion: a ciphertext prefix with a version this
	// package does not read.
	ErrUnsupportedVersion = errors.New("envelope: unsupported format version")
	// ErrMalformed: the prefix is right but the rest is not a valid
	// ciphertext (bad mode, base64 or length).
	ErrMalformed = errors.New("envelope: malformed ciphertext")
)

var b64 = base64.RawURLEncoding.Strict()

// TextLen returns the length of the text form of a ciphertext of n bytes.
func TextLen(n int) int { return TextPrefixLen + b64.EncodedLen(n) }

// AppendText appends the text form of ciphertext to dst.
func AppendText(dst []byte, mode Mode, ciphertext []byte) []byte {
	dst = append(dst, 'f', 'c', textVersion, byte(mode), '.')
	return b64.AppendEncode(dst, ciphertext)
}

// AppendBinary appends the binary form of ciphertext to dst.
func AppendBinary(dst []byte, mode Mode, ciphertext []byte) []byte {
	dst = append(dst, binaryMagic, Version, byte(mode))
	return append(dst, ciphertext...)
}

// LooksSealedText reports whether s starts like the text form of some
// version: "fc", a digit, a lowercase letter, ".". Values that look sealed
// are parsed strictly; values that do not are plaintext.
func LooksSealedText(s string) bool {
	return len(s) >= TextPrefixLen && s[0] == 'f' && s[1] == 'c' &&
		s[2] >= '0' && s[2] <= '9' && s[3] >= 'a' && s[3] <= 'z' && s[4] == '.'
}

// LooksSealedBinary reports whether b starts like the binary form.
func LooksSealedBinary(b []byte) bool {
	return len(b) >= 3 && b[0] == binaryMagic
}

// ParseText decodes the text form s. The ciphertext is written into scratch
// (which may be nil; its contents after len(scratch) are overwritten) and
// returned.
func ParseText(s string, scratch []byte) (Mode, []byte, error) {
	if !LooksSealedText(s) {
		return 0, nil, ErrNotSealed
	}
	if s[2] != textVersion {
		return 0, nil, ErrUnsupportedVersion
	}
	mode := Mode(s[3])
	body := s[TextPrefixLen:]
	// The base64 decoder skips CR and LF even in strict mode; a sealed
	// value has exactly one encoding, so refuse them.
	if strings.IndexByte(body, '\n') >= 0 || strings.IndexByte(body, '\r') >= 0 {
		return 0, nil, fmt.Errorf("%w: line break in base64", ErrMalformed)
	}
	// Copy the text into scratch and decode after it, so that a reused
	// scratch buffer makes parsing allocation-free.
	start := len(scratch)
	scratch = append(scratch, body...)
	out, err := b64.AppendDecode(scratch, scratch[start:])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: invalid base64", ErrMalformed)
	}
	ct := out[start+len(body):]
	if err := checkLength(mode, len(ct)); err != nil {
		return 0, nil, err
	}
	return mode, ct, nil
}

// ParseBinary decodes the binary form b. The returned ciphertext aliases b.
func ParseBinary(b []byte) (Mode, []byte, error) {
	if !LooksSealedBinary(b) {
		return 0, nil, ErrNotSealed
	}
	if b[1] != Version {
		return 0, nil, ErrUnsupportedVersion
	}
	mode := Mode(b[2])
	ct := b[3:]
	if err := checkLength(mode, len(ct)); err != nil {
		return 0, nil, err
	}
	return mode, ct, nil
}

func checkLength(mode Mode, n int) error {
	var min int
	switch mode {
	case Randomized:
		min = minRandomized
	case Deterministic:
		min = minDeterministic
	default:
		return fmt.Errorf("%w: unknown mode", ErrMalformed)
	}
	if n < min {
		return fmt.Errorf("%w: ciphertext too short", ErrMalformed)
	}
	return nil
}

const adLabel = "fieldcrypt/field/v1"

// AppendAssociatedData appends the associated data binding a field value to
// subject, scope and field name.
func AppendAssociatedData(dst []byte, subject, scope, field string) []byte {
	dst = append(dst, adLabel...)
	dst = appendLenPrefixed(dst, subject)
	dst = appendLenPrefixed(dst, scope)
	return appendLenPrefixed(dst, field)
}

func appendLenPrefixed(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
