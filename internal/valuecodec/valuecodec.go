// Package valuecodec turns typed Go values into the plaintext bytes that
// fieldcrypt encrypts, and back: one canonical encoding per kind of value,
// so that a value sealed deterministically always gives the same ciphertext
// and a value read back is the value that was sealed.
//
// Every encoding starts with two bytes: the format version (1) and a code
// naming the kind of value. Decoding checks both, so that a column holding
// another type's ciphertext is refused with a [*TypeError] naming the two
// kinds instead of being read as garbage.
//
//	kind                      code  payload
//	bool                      'b'   1 byte: 0 or 1 (anything else is refused)
//	int, int8 … int64         'i'   8 bytes, big-endian two's complement
//	uint, uint8 … uintptr     'u'   8 bytes, big-endian
//	float32, float64          'f'   8 bytes, IEEE 754 binary64, big-endian; every NaN is
//	                                encoded as 0x7FF8000000000001, and -0 stays -0
//	string                    's'   the string's bytes, as they are (not checked for UTF-8)
//	[]byte                    'y'   the bytes
//	time.Time                 't'   8 bytes seconds since 1970-01-01 UTC (signed), 4 bytes
//	                                nanoseconds, both big-endian: the instant only
//	encoding.BinaryMarshaler  'B'   what MarshalBinary returns
//	encoding.TextMarshaler    'T'   what MarshalText returns
//
// Named types are encoded by their kind: a time.Duration is an int64, a
// `type Email string` a string. Integers and floats are widened to 64 bits, so
// a value can be read into a wider type of the same kind; reading it into a
// narrower one that cannot hold it is an error, never a silent truncation.
//
// A time.Time keeps its instant and nothing else: the monotonic clock reading
// is dropped and the location is not stored; Decode returns the time in UTC.
// Two times that are Equal therefore encode identically, which is what a
// deterministic field needs.
//
// time.Time is encoded by the 't' rule although it implements
// BinaryMarshaler (whose output includes the zone offset). Any other type
// implementing encoding.BinaryMarshaler (preferred) or TextMarshaler is
// encoded by its own method. fieldcrypt cannot know whether those methods
// are canonical (equal values, equal bytes), so [Codec.Canonical] is false
// for them and deterministic encryption of such a type is refused by the
// caller.
package valuecodec

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
)

// Version is the first byte of every encoding.
const Version = 1

// Kind codes, the second byte of every encoding.
const (
	codeBool   = 'b'
	codeInt    = 'i'
	codeUint   = 'u'
	codeFloat  = 'f'
	codeString = 's'
	codeBytes  = 'y'
	codeTime   = 't'
	codeBinary = 'B'
	codeText   = 'T'
)

// canonicalNaN is the one NaN every NaN is encoded as.
const canonicalNaN = 0x7FF8000000000001

var (
	// ErrUnsupported: the type has no encoding (a struct, map, slice other
	// than []byte, pointer, channel, func, complex or interface that does not
	// implement a marshaler).
	ErrUnsupported = errors.New("valuecodec: type cannot be encoded")

	// ErrMalformed: the bytes are not an encoding of version 1.
	ErrMalformed = errors.New("valuecodec: malformed encoding")

	// ErrRange: the encoded number does not fit the destination type.
	ErrRange = errors.New("valuecodec: value out of range for the destination type")
)

// TypeError is returned when the bytes encode another kind of value than
// the destination holds.
type TypeError struct {
	Stored, Want string // kind names, e.g. "time" and "int"
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("valuecodec: holds a %s value, not %s", e.Stored, e.Want)
}

var kindNames = map[byte]string{
	codeBool: "bool", codeInt: "int", codeUint: "uint", codeFloat: "float", codeString: "string",
	codeBytes: "bytes", codeTime: "time", codeBinary: "binary-marshaled", codeText: "text-marshaled",
}

// Codec encodes and decodes the values of one Go type. It is made once per
// type and is safe for concurrent use.
type Codec struct {
	typ    reflect.Type
	code   byte
	direct bool // see Direct
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	bytesType           = reflect.TypeFor[[]byte]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalType   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// For returns the codec of t, or an error wrapping ErrUnsupported.
// A marshaler type must implement both directions (MarshalBinary and, on
// its pointer, UnmarshalBinary; or the Text pair).
func For(t reflect.Type) (*Codec, error) {
	c, err := codecFor(t)
	if err != nil {
		return nil, err
	}
	c.direct = directTypes[t]
	return c, nil
}

func codecFor(t reflect.Type) (*Codec, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: nil type", ErrUnsupported)
	}
	if t == timeType {
		return &Codec{typ: t, code: codeTime}, nil
	}
	ptr := reflect.PointerTo(t)
	switch {
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		t.Implements(binaryMarshalerType) && ptr.Implements(binaryUnmarshalType):
		return &Codec{typ: t, code: codeBinary}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		t.Implements(textMarshalerType) && ptr.Implements(textUnmarshalType):
		return &Codec{typ: t, code: codeText}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &Codec{typ: t, code: codeBool}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Codec{typ: t, code: codeInt}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &Codec{typ: t, code: codeUint}, nil
	case reflect.Float32, reflect.Float64:
		return &Codec{typ: t, code: codeFloat}, nil
	case reflect.String:
		return &Codec{typ: t, code: codeString}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &Codec{typ: t, code: codeBytes}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, t)
}

// Type is the Go type this codec encodes.
func (c *Codec) Type() reflect.Type { return c.typ }

// Kind names the encoding, e.g. "time" or "int".
func (c *Codec) Kind() string { return kindNames[c.code] }

// Canonical reports whether equal values always encode to equal bytes, which
// deterministic encryption needs. It is false for marshaler types, whose
// encoding fieldcrypt does not control.
func (c *Codec) Canonical() bool { return c.code != codeBinary && c.code != codeText }

// Encode appends the encoding of v, which must be of the codec's type, to
// dst and returns the result.
func (c *Codec) Encode(dst []byte, v reflect.Value) ([]byte, error) {
	if v.Type() != c.typ {
		return nil, fmt.Errorf("valuecodec: Encode of a %s with the codec of %s", v.Type(), c.typ)
	}
	dst = append(dst, Version, c.code)
	switch c.code {
	case codeBool:
		return appendBoolPayload(dst, v.Bool()), nil
	case codeInt:
		return binary.BigEndian.AppendUint64(dst, uint64(v.Int())), nil
	case codeUint:
		return binary.BigEndian.AppendUint64(dst, v.Uint()), nil
	case codeFloat:
		return appendFloatPayload(dst, v.Float()), nil
	case codeString:
		return append(dst, v.String()...), nil
	case codeBytes:
		return append(dst, v.Bytes()...), nil
	case codeTime:
		t, _ := reflect.TypeAssert[time.Time](v) // no allocation, unlike Interface
		return appendTimePayload(dst, t)
	case codeBinary:
		b, err := v.Interface().(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("valuecodec: MarshalBinary of %s failed", c.typ) // its error may quote the value
		}
		return append(dst, b...), nil
	case codeText:
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, fmt.Errorf("valuecodec: MarshalText of %s failed", c.typ)
		}
		return append(dst, b...), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, c.typ)
}

func appendBoolPayload(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendFloatPayload(dst []byte, f float64) []byte {
	bits := math.Float64bits(f)
	if math.IsNaN(f) {
		bits = canonicalNaN
	}
	return binary.BigEndian.AppendUint64(dst, bits)
}

func appendTimePayload(dst []byte, t time.Time) ([]byte, error) {
	if !unixInRange(t.Unix()) {
		return nil, fmt.Errorf("%w: a time more than 292 billion years before 1970", ErrRange)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond())), nil
}

// payload checks the version and kind of encoding b and returns what
// follows them.
func (c *Codec) payload(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != Version {
		return nil, ErrMalformed
	}
	if b[1] != c.code {
		stored, ok := kindNames[b[1]]
		if !ok {
			return nil, ErrMalformed
		}
		return nil, &TypeError{Stored: stored, Want: c.Kind()}
	}
	return b[2:], nil
}

func decodeTimePayload(p []byte) (time.Time, error) {
	if len(p) != 12 {
		return time.Time{}, ErrMalformed
	}
	sec := int64(binary.BigEndian.Uint64(p))
	nsec := binary.BigEndian.Uint32(p[8:])
	if nsec >= 1e9 || !unixInRange(sec) {
		return time.Time{}, ErrMalformed
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}

// secondsFromYear1To1970 is the offset between Unix time and time.Time's
// internal count of seconds since January 1 of year 1.
const secondsFromYear1To1970 = 62135596800

// unixInRange reports whether a time.Time can hold sec seconds since 1970.
// Beyond it, time.Unix and Time.Unix wrap around silently.
func unixInRange(sec int64) bool { return sec <= math.MaxInt64-secondsFromYear1To1970 }

// Decode sets v (settable, of the codec's type) to the value b encodes.
// On error v is unchanged.
func (c *Codec) Decode(b []byte, v reflect.Value) error {
	if v.Type() != c.typ || !v.CanSet() {
		return fmt.Errorf("valuecodec: Decode into a %s with the codec of %s", v.Type(), c.typ)
	}
	p, err := c.payload(b)
	if err != nil {
		return err
	}
	fixed := func(n int) error {
		if len(p) != n {
			return ErrMalformed
		}
		return nil
	}
	switch c.code {
	case codeBool:
		if err := fixed(1); err != nil || p[0] > 1 {
			return ErrMalformed
		}
		v.SetBool(p[0] == 1)
	case codeInt:
		if err := fixed(8); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint64(p))
		if v.OverflowInt(n) {
			return ErrRange
		}
		v.SetInt(n)
	case codeUint:
		if err := fixed(8); err != nil {
			return err
		}
		n := binary.BigEndian.Uint64(p)
		if v.OverflowUint(n) {
			return ErrRange
		}
		v.SetUint(n)
	case codeFloat:
		if err := fixed(8); err != nil {
			return err
		}
		bits := binary.BigEndian.Uint64(p)
		f := math.Float64frombits(bits)
		if math.IsNaN(f) && bits != canonicalNaN {
			return ErrMalformed
		}
		// A float32 destination takes only values a float32 holds exactly
		// (every value sealed from a float32 does), so nothing is rounded
		// silently.
		if c.typ.Kind() == reflect.Float32 && !math.IsNaN(f) && float64(float32(f)) != f {
			return ErrRange
		}
		v.SetFloat(f)
	case codeString:
		v.SetString(string(p))
	case codeBytes:
		nb := reflect.New(c.typ).Elem()
		nb.SetBytes(append([]byte{}, p...))
		v.Set(nb)
	case codeTime:
		t, err := decodeTimePayload(p)
		if err != nil {
			return err
		}
		if !v.CanAddr() {
			v.Set(reflect.ValueOf(t))
		} else if p, ok := reflect.TypeAssert[*time.Time](v.Addr()); ok {
			*p = t // no allocation, unlike reflect.ValueOf
		}
	case codeBinary, codeText:
		// Decode into a fresh value, so that a failing Unmarshal leaves v
		// as it was.
		nv := reflect.New(c.typ)
		var err error
		if c.code == codeBinary {
			err = nv.Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(append([]byte{}, p...))
		} else {
			err = nv.Interface().(encoding.TextUnmarshaler).UnmarshalText(append([]byte{}, p...))
		}
		if err != nil {
			return fmt.Errorf("%w: %s refused its stored form", ErrMalformed, c.typ)
		}
		v.Set(nv.Elem())
	}
	return nil
}
