// Package envelope is the wire format of a sealed field, and the associated
// data that binds it to its place.
//
// # Text form (string fields)
//
//	"fc" VERSION MODE "." BASE64URL(CIPHERTEXT)
//
//	VERSION    one ASCII digit: "1" or "2", the version of the associated
//	           data the ciphertext was sealed with (see below); this
//	           package reads and writes both
//	MODE       'a' randomized AEAD (Tink AES-256-GCM)
//	           'd' deterministic AEAD (Tink AES-SIV)
//	BASE64URL  RFC 4648 §5 alphabet, no padding, no line breaks, canonical
//	           (unused trailing bits must be zero)
//	CIPHERTEXT Tink's output: a 5-byte prefix (0x01 and the 4-byte key id)
//	           followed by the primitive's ciphertext
//
// For example "fc1a.AR2-3cQ…" or "fc2d.AR2-3cQ…". The result is plain ASCII
// and fits any text column; both versions have the same length.
//
// # Binary form ([]byte fields)
//
//	0xFC VERSION MODE CIPHERTEXT
//
// with VERSION the byte 0x01 or 0x02 and MODE the byte 'a' or 'd'.
//
// # Associated data
//
// The version says which associated data the ciphertext is bound to. The
// version itself is not secret and not authenticated on its own: changing
// it makes the opener build the other version's associated data, which
// starts with a different label, so the value fails to open.
//
// Version 1 binds a ciphertext to the subject it belongs to, the scope of
// the struct type that holds it and the field's stable name:
//
//	"fieldcrypt/field/v1" || LEN(subject) || subject || LEN(scope) || scope || LEN(field) || field
//
// Version 2 adds the record the value belongs to and its position inside
// its field (the element binding):
//
//	"fieldcrypt/field/v2" || LEN(subject) || subject || LEN(scope) || scope
//	    || LEN(record) || record || LEN(position) || position || LEN(field) || field
//
// where LEN is a 4-byte big-endian length, record is the value of the
// record field (empty when the value is bound to positions only) and
// position is empty or a sequence of steps, outermost first, each
//
//	KIND(1 byte) || LEN(4 bytes) || BYTES
//
//	KIND 'i'  slice or array index: BYTES is the index, 8 bytes big-endian
//	KIND 's'  map key of string kind: BYTES are the key's bytes
//	KIND 'n'  map key of signed integer kind: 8 bytes big-endian, two's complement
//	KIND 'u'  map key of unsigned integer kind: 8 bytes big-endian
//
// Every component is length-prefixed, so the encoding is injective: two
// different tuples never give the same associated data. The layouts are
// pinned by the vectors in testdata/associated_data.txt. A ciphertext moved
// to another field, another person, another struct type — and, in version
// 2, another record or another position — fails to open.
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
	"unsafe"
)

// Mode says which primitive produced a ciphertext.
type Mode byte

// The modes.
const (
	Randomized    Mode = 'a'
	Deterministic Mode = 'd'
)

// The format versions, which are also the versions of the associated data
// (AppendAssociatedData, AppendAssociatedDataV2).
const (
	V1 = 1
	V2 = 2
)

const (
	binaryMagic = 0xFC
	tinkPrefix  = 5 // Tink's output prefix: version byte and key id

	// Shortest valid ciphertexts: Tink prefix, then 12-byte nonce and
	// 16-byte tag for AES-GCM, 16-byte synthetic IV for AES-SIV.
	minRandomized    = tinkPrefix + 12 + 16
	minDeterministic = tinkPrefix + 16
)

// TextPrefixLen is the length of the text form's prefix ("fc1a.", "fc2a.").
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

// AppendText appends the text form of ciphertext, sealed with the
// associated data of version (V1 or V2), to dst. It panics on another
// version: that is a bug in the caller.
func AppendText(dst []byte, version int, mode Mode, ciphertext []byte) []byte {
	// Indexing "12" is the version check: it panics on any other version
	// (and, unlike a call to checkVersion, keeps AppendText small enough
	// to be inlined into the hot path).
	dst = append(dst, 'f', 'c', "12"[version-V1], byte(mode), '.')
	return b64.AppendEncode(dst, ciphertext)
}

// AppendBinary appends the binary form of ciphertext, sealed with the
// associated data of version (V1 or V2), to dst. It panics on another
// version.
func AppendBinary(dst []byte, version int, mode Mode, ciphertext []byte) []byte {
	checkVersion(version)
	dst = append(dst, binaryMagic, byte(version), byte(mode))
	return append(dst, ciphertext...)
}

// checkVersion panics unless version is V1 or V2.
func checkVersion(version int) {
	if uint(version-V1) > V2-V1 {
		panic("envelope: unknown version")
	}
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

// ParseText decodes the text form s, returning its version, mode and
// ciphertext. The ciphertext is written into scratch (which may be nil; its
// contents after len(scratch) are overwritten) and returned.
func ParseText(s string, scratch []byte) (version int, mode Mode, ct []byte, err error) {
	if !LooksSealedText(s) {
		return 0, 0, nil, ErrNotSealed
	}
	version = int(s[2] - '0')
	if version != V1 && version != V2 {
		return 0, 0, nil, ErrUnsupportedVersion
	}
	mode = Mode(s[3])
	body := s[TextPrefixLen:]
	// The base64 decoder skips CR and LF even in strict mode; a sealed
	// value has exactly one encoding, so refuse them.
	if strings.IndexByte(body, '\n') >= 0 || strings.IndexByte(body, '\r') >= 0 {
		return 0, 0, nil, fmt.Errorf("%w: line break in base64", ErrMalformed)
	}
	// Decode straight from the string's bytes (the decoder only reads
	// its source) into scratch, so that a reused scratch buffer makes
	// parsing allocation- and copy-free.
	start := len(scratch)
	src := unsafe.Slice(unsafe.StringData(body), len(body))
	out, err := b64.AppendDecode(scratch, src)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%w: invalid base64", ErrMalformed)
	}
	ct = out[start:]
	if err := checkLength(mode, len(ct)); err != nil {
		return 0, 0, nil, err
	}
	return version, mode, ct, nil
}

// ParseBinary decodes the binary form b, returning its version, mode and
// ciphertext. The returned ciphertext aliases b.
func ParseBinary(b []byte) (version int, mode Mode, ct []byte, err error) {
	if !LooksSealedBinary(b) {
		return 0, 0, nil, ErrNotSealed
	}
	version = int(b[1])
	if version != V1 && version != V2 {
		return 0, 0, nil, ErrUnsupportedVersion
	}
	mode = Mode(b[2])
	ct = b[3:]
	if err := checkLength(mode, len(ct)); err != nil {
		return 0, 0, nil, err
	}
	return version, mode, ct, nil
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

const (
	adLabelV1 = "fieldcrypt/field/v1"
	adLabelV2 = "fieldcrypt/field/v2"
)

// AppendAssociatedData appends the version 1 associated data binding a
// field value to subject, scope and field name.
func AppendAssociatedData(dst []byte, subject, scope, field string) []byte {
	dst = append(dst, adLabelV1...)
	dst = appendLenPrefixed(dst, subject)
	dst = appendLenPrefixed(dst, scope)
	return appendLenPrefixed(dst, field)
}

// AppendAssociatedDataV2 appends the version 2 associated data binding a
// field value to subject, scope, record, position and field name. position
// is empty or a sequence of steps made by AppendIndexStep and
// AppendKeyStep.
func AppendAssociatedDataV2(dst []byte, subject, scope, record string, position []byte, field string) []byte {
	dst = append(dst, adLabelV2...)
	dst = appendLenPrefixed(dst, subject)
	dst = appendLenPrefixed(dst, scope)
	dst = appendLenPrefixed(dst, record)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(position)))
	dst = append(dst, position...)
	return appendLenPrefixed(dst, field)
}

// The kinds of position steps.
const (
	StepIndex     = 'i' // slice or array index
	StepStringKey = 's' // map key of string kind
	StepIntKey    = 'n' // map key of signed integer kind
	StepUintKey   = 'u' // map key of unsigned integer kind
)

// AppendIndexStep appends the position step of slice or array index i.
func AppendIndexStep(dst []byte, i uint64) []byte {
	dst = append(dst, StepIndex, 0, 0, 0, 8)
	return binary.BigEndian.AppendUint64(dst, i)
}

// AppendStringKeyStep appends the position step of a map key of string kind.
func AppendStringKeyStep(dst []byte, key string) []byte {
	dst = append(dst, StepStringKey)
	return appendLenPrefixed(dst, key)
}

// AppendIntKeyStep appends the position step of a map key of signed
// integer kind.
func AppendIntKeyStep(dst []byte, key int64) []byte {
	dst = append(dst, StepIntKey, 0, 0, 0, 8)
	return binary.BigEndian.AppendUint64(dst, uint64(key))
}

// AppendUintKeyStep appends the position step of a map key of unsigned
// integer kind.
func AppendUintKeyStep(dst []byte, key uint64) []byte {
	dst = append(dst, StepUintKey, 0, 0, 0, 8)
	return binary.BigEndian.AppendUint64(dst, key)
}

func appendLenPrefixed(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
