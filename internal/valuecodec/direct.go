package valuecodec

import (
	"encoding/binary"
	"math"
	"reflect"
	"time"
)

// The direct path: Encode and Decode without reflection for the common
// types themselves (not named types of their kind): bool, int, int64,
// uint64, float64, string, []byte and time.Time. The encodings are those
// of Encode and Decode (one set of payload functions serves both), and a
// caller that knows its value's static type calls them instead of going
// through a reflect.Value. Direct reports whether a codec is of such a type.

var directTypes = map[reflect.Type]bool{
	reflect.TypeFor[bool]():      true,
	reflect.TypeFor[int]():       true,
	reflect.TypeFor[int64]():     true,
	reflect.TypeFor[uint64]():    true,
	reflect.TypeFor[float64]():   true,
	reflect.TypeFor[string]():    true,
	reflect.TypeFor[[]byte]():    true,
	reflect.TypeFor[time.Time](): true,
}

// Direct reports whether the codec's type is one of the types the direct
// functions (AppendBool … AppendTime, DecodeScalar) serve.
func (c *Codec) Direct() bool { return c.direct }

// AppendBool appends the encoding of a bool.
func AppendBool(dst []byte, b bool) []byte {
	return appendBoolPayload(append(dst, Version, codeBool), b)
}

// AppendInt appends the encoding of an integer.
func AppendInt(dst []byte, n int64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, Version, codeInt), uint64(n))
}

// AppendUint appends the encoding of an unsigned integer.
func AppendUint(dst []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, Version, codeUint), n)
}

// AppendFloat appends the encoding of a float.
func AppendFloat(dst []byte, f float64) []byte {
	return appendFloatPayload(append(dst, Version, codeFloat), f)
}

// AppendString appends the encoding of a string.
func AppendString(dst []byte, s string) []byte {
	return append(append(dst, Version, codeString), s...)
}

// AppendBytes appends the encoding of a []byte.
func AppendBytes(dst []byte, b []byte) []byte {
	return append(append(dst, Version, codeBytes), b...)
}

// AppendTime appends the encoding of a time.Time; a time before the range
// time.Unix can hold is an error wrapping ErrRange.
func AppendTime(dst []byte, t time.Time) ([]byte, error) {
	return appendTimePayload(append(dst, Version, codeTime), t)
}

// Scalar is a decoded value of a Direct codec, by kind: N holds a bool (0
// or 1), an integer, an unsigned integer or a float's bits; a time is
// T; a string is S and a []byte is B (fresh memory, not aliasing the
// encoding).
type Scalar struct {
	N uint64
	T time.Time
	S string
	B []byte
}

// DecodeScalar decodes b as Decode would into a value of the codec's type,
// which must be Direct, without reflection. The checks and errors are
// those of Decode.
func (c *Codec) DecodeScalar(b []byte) (Scalar, error) {
	var sc Scalar
	p, err := c.payload(b)
	if err != nil {
		return sc, err
	}
	switch c.code {
	case codeBool:
		if len(p) != 1 || p[0] > 1 {
			return sc, ErrMalformed
		}
		sc.N = uint64(p[0])
	case codeInt:
		if len(p) != 8 {
			return sc, ErrMalformed
		}
		sc.N = binary.BigEndian.Uint64(p)
		if n := int64(sc.N); c.typ.Kind() == reflect.Int && int64(int(n)) != n {
			return Scalar{}, ErrRange
		}
	case codeUint:
		if len(p) != 8 {
			return sc, ErrMalformed
		}
		sc.N = binary.BigEndian.Uint64(p)
	case codeFloat:
		if len(p) != 8 {
			return sc, ErrMalformed
		}
		sc.N = binary.BigEndian.Uint64(p)
		if f := math.Float64frombits(sc.N); math.IsNaN(f) && sc.N != canonicalNaN {
			return Scalar{}, ErrMalformed
		}
	case codeString:
		sc.S = string(p)
	case codeBytes:
		sc.B = append([]byte{}, p...)
	case codeTime:
		t, err := decodeTimePayload(p)
		if err != nil {
			return sc, err
		}
		sc.T = t
	default:
		return sc, ErrUnsupported
	}
	return sc, nil
}
