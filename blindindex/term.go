package blindindex

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// Term is one blind-index term: the key version that made it and the
// truncated keyed hash. It is a small comparable value; two terms are
// equal (==) when version and hash are.
//
// Text form (String, AppendText, MarshalText), for a text column:
//
//	"v" VERSION ":" HEX
//
// VERSION in decimal without leading zeros, HEX the ceil(bits/8) bytes in
// lowercase hex, the unused low bits of the last byte zero, as in
// "v2:3fa0c1". For a given version and bits every term has the same
// length, and `LIKE 'v1:%'` finds the rows of version 1.
//
// Binary form (Bytes, AppendBinary, MarshalBinary), for a bytea/BLOB
// column: the version as 4 bytes big-endian, then the hash bytes.
type Term struct {
	version uint32
	n       uint8 // bytes of b in use, 1..16
	b       [MaxBits / 8]byte
}

// Version returns the key version that made t.
func (t Term) Version() uint32 { return t.version }

// Len returns the number of hash bytes, ceil(bits/8).
func (t Term) Len() int { return int(t.n) }

// IsZero reports whether t is the zero Term (no term).
func (t Term) IsZero() bool { return t.n == 0 }

// String returns the text form ("" for the zero Term).
func (t Term) String() string {
	if t.IsZero() {
		return ""
	}
	return string(t.AppendText(make([]byte, 0, 16+2*int(t.n))))
}

// AppendText appends the text form to b.
func (t Term) AppendText(b []byte) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, 'v')
	b = strconv.AppendUint(b, uint64(t.version), 10)
	b = append(b, ':')
	return hex.AppendEncode(b, t.b[:t.n])
}

// MarshalText returns the text form.
func (t Term) MarshalText() ([]byte, error) { return t.AppendText(nil), nil }

// Bytes returns the binary form (nil for the zero Term).
func (t Term) Bytes() []byte {
	if t.IsZero() {
		return nil
	}
	return t.appendBinary(make([]byte, 0, 4+int(t.n)))
}

// AppendBinary appends the binary form to b.
func (t Term) AppendBinary(b []byte) ([]byte, error) { return t.appendBinary(b), nil }

// MarshalBinary returns the binary form.
func (t Term) MarshalBinary() ([]byte, error) { return t.Bytes(), nil }

func (t Term) appendBinary(b []byte) []byte {
	if t.IsZero() {
		return b
	}
	b = binary.BigEndian.AppendUint32(b, t.version)
	return append(b, t.b[:t.n]...)
}

// ParseTerm parses the text form strictly: anything else (upper-case
// hex, a leading zero, version 0, more than 16 bytes) is ErrInvalidTerm.
func ParseTerm(s string) (Term, error) {
	if len(s) < 5 || s[0] != 'v' {
		return Term{}, ErrInvalidTerm
	}
	colon := -1
	for i := 1; i < len(s) && i <= 11; i++ {
		if s[i] == ':' {
			colon = i
			break
		}
	}
	if colon < 2 || s[1] == '0' {
		return Term{}, ErrInvalidTerm
	}
	v, err := strconv.ParseUint(s[1:colon], 10, 32)
	if err != nil || s[1] == '+' {
		return Term{}, ErrInvalidTerm
	}
	h := s[colon+1:]
	if len(h) == 0 || len(h)%2 != 0 || len(h) > 2*MaxBits/8 {
		return Term{}, ErrInvalidTerm
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Term{}, ErrInvalidTerm
		}
	}
	t := Term{version: uint32(v), n: uint8(len(h) / 2)}
	if _, err := hex.Decode(t.b[:], []byte(h)); err != nil {
		return Term{}, ErrInvalidTerm
	}
	return t, nil
}

// ParseTermBytes parses the binary form: 4 bytes of version (not 0), then
// 1 to 16 hash bytes.
func ParseTermBytes(b []byte) (Term, error) {
	if len(b) < 5 || len(b) > 4+MaxBits/8 {
		return Term{}, ErrInvalidTerm
	}
	v := binary.BigEndian.Uint32(b)
	if v == 0 {
		return Term{}, ErrInvalidTerm
	}
	t := Term{version: v, n: uint8(len(b) - 4)}
	copy(t.b[:], b[4:])
	return t, nil
}

// UnmarshalText parses the text form, as ParseTerm.
func (t *Term) UnmarshalText(b []byte) error {
	u, err := ParseTerm(string(b))
	if err != nil {
		return err
	}
	*t = u
	return nil
}

// UnmarshalBinary parses the binary form, as ParseTermBytes.
func (t *Term) UnmarshalBinary(b []byte) error {
	u, err := ParseTermBytes(b)
	if err != nil {
		return err
	}
	*t = u
	return nil
}
