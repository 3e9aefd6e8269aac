package valuecodec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestDirectMatchesReflect pins the direct functions to Encode and Decode:
// same bytes, same values, same errors.
func TestDirectMatchesReflect(t *testing.T) {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		v      any
		direct []byte
	}{
		{true, AppendBool(nil, true)},
		{false, AppendBool(nil, false)},
		{int(-7), AppendInt(nil, -7)},
		{int64(math.MinInt64), AppendInt(nil, math.MinInt64)},
		{uint64(math.MaxUint64), AppendUint(nil, math.MaxUint64)},
		{0.375, AppendFloat(nil, 0.375)},
		{math.Copysign(0, -1), AppendFloat(nil, math.Copysign(0, -1))},
		{math.NaN(), AppendFloat(nil, math.NaN())},
		{"héllo", AppendString(nil, "héllo")},
		{[]byte{0, 1, 2}, AppendBytes(nil, []byte{0, 1, 2})},
		{time.Date(1815, 12, 10, 8, 30, 0, 5, time.FixedZone("x", 3600)), must(AppendTime(nil, time.Date(1815, 12, 10, 8, 30, 0, 5, time.FixedZone("x", 3600))))},
	}
	for _, tc := range cases {
		rv := reflect.ValueOf(tc.v)
		c, err := For(rv.Type())
		if err != nil || !c.Direct() {
			t.Fatalf("%T: codec %v, direct %v", tc.v, err, c != nil && c.Direct())
		}
		enc := must(c.Encode(nil, rv))
		if !bytes.Equal(enc, tc.direct) {
			t.Errorf("%T %v: direct %x, Encode %x", tc.v, tc.v, tc.direct, enc)
		}
		sc, err := c.DecodeScalar(enc)
		if err != nil {
			t.Fatalf("%T: DecodeScalar: %v", tc.v, err)
		}
		out := reflect.New(rv.Type()).Elem()
		if err := c.Decode(enc, out); err != nil {
			t.Fatal(err)
		}
		var got any
		switch out.Kind() {
		case reflect.Bool:
			got = sc.N == 1
		case reflect.Int, reflect.Int64:
			got = reflect.ValueOf(int64(sc.N)).Convert(rv.Type()).Interface()
		case reflect.Uint64:
			got = sc.N
		case reflect.Float64:
			got = math.Float64frombits(sc.N)
		case reflect.String:
			got = sc.S
		case reflect.Slice:
			got = sc.B
		default:
			got = sc.T
		}
		want := out.Interface()
		if f, ok := want.(float64); ok && math.IsNaN(f) {
			if !math.IsNaN(got.(float64)) {
				t.Errorf("NaN decoded as %v", got)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%T: DecodeScalar %#v, Decode %#v", tc.v, got, want)
		}
	}
	if c, _ := For(reflect.TypeFor[time.Duration]()); c.Direct() {
		t.Error("a named type is direct")
	}
}

// TestDecodeScalarErrors: the direct decoder refuses what Decode refuses,
// with the same errors.
func TestDecodeScalarErrors(t *testing.T) {
	nan := AppendInt(nil, 0)
	nan[1] = codeFloat
	copy(nan[2:], []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 2})
	cases := []struct {
		typ reflect.Type
		b   []byte
	}{
		{reflect.TypeFor[bool](), []byte{Version, codeBool, 2}},
		{reflect.TypeFor[bool](), []byte{Version, codeBool}},
		{reflect.TypeFor[int64](), []byte{Version, codeInt, 1}},
		{reflect.TypeFor[int64](), AppendString(nil, "x")},
		{reflect.TypeFor[float64](), nan},
		{reflect.TypeFor[time.Time](), AppendBytes(nil, make([]byte, 12))},
		{reflect.TypeFor[time.Time](), append([]byte{Version, codeTime}, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)},
		{reflect.TypeFor[string](), []byte{2, codeString}},
		{reflect.TypeFor[[]byte](), nil},
	}
	for i, tc := range cases {
		c, err := For(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		_, derr := c.DecodeScalar(tc.b)
		rerr := c.Decode(tc.b, reflect.New(tc.typ).Elem())
		if derr == nil || rerr == nil || derr.Error() != rerr.Error() {
			t.Errorf("case %d: DecodeScalar %v, Decode %v", i, derr, rerr)
		}
		var te *TypeError
		if errors.As(rerr, &te) != errors.As(derr, &te) {
			t.Errorf("case %d: error types differ", i)
		}
	}
}
