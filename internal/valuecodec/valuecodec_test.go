package valuecodec

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"time"
)

type email string
type celsius float32

// vectorValues are the values pinned by testdata/vectors.json (the integer,
// float and time bytes were checked against Python's struct and datetime,
// an implementation we did not write): any change to
// an encoding breaks every ciphertext sealed with it, so the bytes are
// fixed here, not recomputed.
func vectorValues() map[string]any {
	return map[string]any{
		"bool-false":        false,
		"bool-true":         true,
		"int-0":             0,
		"int-minus-1":       int64(-1),
		"int8-min":          int8(math.MinInt8),
		"int64-max":         int64(math.MaxInt64),
		"duration-90s":      90 * time.Second,
		"uint-max":          uint64(math.MaxUint64),
		"uint16-443":        uint16(443),
		"float-1.5":         1.5,
		"float-minus-zero":  math.Copysign(0, -1),
		"float-nan":         math.NaN(),
		"float-inf":         math.Inf(1),
		"float32-0.1":       float32(0.1),
		"named-float32":     celsius(-40),
		"string-empty":      "",
		"string-ada":        "Ada Lovelace",
		"named-string":      email("ada@example.com"),
		"string-not-utf8":   "\xff\xfe",
		"bytes":             []byte{0, 1, 2, 0xff},
		"bytes-empty":       []byte{},
		"time-epoch":        time.Unix(0, 0).UTC(),
		"time-1815-12-10":   time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC),
		"time-with-nanos":   time.Date(2026, 11, 29, 23, 59, 59, 999999999, time.UTC),
		"time-in-zone":      time.Date(2026, 11, 30, 0, 59, 59, 999999999, time.FixedZone("CET", 3600)),
		"netip-addr-binary": netip.MustParseAddr("192.0.2.1"),
	}
}

func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	values := vectorValues()
	if len(want) != len(values) {
		t.Fatalf("%d vectors in testdata, %d values here", len(want), len(values))
	}
	for name, v := range values {
		c, err := For(reflect.TypeOf(v))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := c.Encode(nil, reflect.ValueOf(v))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hex.EncodeToString(got) != want[name] {
			t.Errorf("%s: encodes to %x, pinned %s", name, got, want[name])
		}
		back := reflect.New(reflect.TypeOf(v)).Elem()
		if err := c.Decode(got, back); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !same(v, back.Interface()) {
			t.Errorf("%s: decodes to %v, sealed %v", name, back.Interface(), v)
		}
	}
}

// same is equality as the codec promises it: times by instant, NaN equal
// to NaN, -0 distinct from 0.
func same(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		return a.Equal(b.(time.Time))
	case float64:
		b := b.(float64)
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	}
	return reflect.DeepEqual(a, b)
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	c, err := For(reflect.TypeOf(v))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode(nil, reflect.ValueOf(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTimeKeepsTheInstantOnly(t *testing.T) {
	utc := time.Date(2026, 11, 29, 23, 0, 0, 5, time.UTC)
	zoned := utc.In(time.FixedZone("X", -7*3600))
	withMonotonic := time.Now()
	stripped := withMonotonic.Round(0)
	if string(encode(t, utc)) != string(encode(t, zoned)) {
		t.Error("the same instant in two zones encodes differently")
	}
	if string(encode(t, withMonotonic)) != string(encode(t, stripped)) {
		t.Error("the monotonic reading changes the encoding")
	}
	c, _ := For(reflect.TypeFor[time.Time]())
	var got time.Time
	if err := c.Decode(encode(t, zoned), reflect.ValueOf(&got).Elem()); err != nil {
		t.Fatal(err)
	}
	if got.Location() != time.UTC || !got.Equal(zoned) {
		t.Errorf("decoded %v (%v), want the instant in UTC", got, got.Location())
	}
}

func TestNarrowingIsAnError(t *testing.T) {
	cases := []struct {
		sealed any
		into   reflect.Type
		want   error
	}{
		{int64(300), reflect.TypeFor[int8](), ErrRange},
		{int64(-1), reflect.TypeFor[int8](), nil},
		{uint64(1 << 40), reflect.TypeFor[uint32](), ErrRange},
		{0.1, reflect.TypeFor[float32](), ErrRange}, // not exactly a float32
		{float64(float32(0.1)), reflect.TypeFor[float32](), nil},
		{math.NaN(), reflect.TypeFor[float32](), nil},
		{int64(1), reflect.TypeFor[uint64](), &TypeError{}},
		{"12", reflect.TypeFor[int](), &TypeError{}},
		{time.Now(), reflect.TypeFor[[]byte](), &TypeError{}},
	}
	for _, tc := range cases {
		c, err := For(tc.into)
		if err != nil {
			t.Fatal(err)
		}
		dst := reflect.New(tc.into).Elem()
		before := dst.Interface()
		err = c.Decode(encode(t, tc.sealed), dst)
		var te *TypeError
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%T into %s: %v", tc.sealed, tc.into, err)
		case tc.want == ErrRange && !errors.Is(err, ErrRange):
			t.Errorf("%T into %s: %v, want ErrRange", tc.sealed, tc.into, err)
		case tc.want != nil && tc.want != ErrRange && !errors.As(err, &te):
			t.Errorf("%T into %s: %v, want a *TypeError", tc.sealed, tc.into, err)
		}
		if err != nil && !reflect.DeepEqual(dst.Interface(), before) {
			t.Errorf("%T into %s: destination changed on error", tc.sealed, tc.into)
		}
	}
}

func TestUnsupportedTypes(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[struct{ A int }](), reflect.TypeFor[map[string]string](), reflect.TypeFor[[]int](),
		reflect.TypeFor[*int](), reflect.TypeFor[complex128](), reflect.TypeFor[any](), reflect.TypeFor[chan int](), nil,
	} {
		if _, err := For(typ); !errors.Is(err, ErrUnsupported) {
			t.Errorf("For(%v) = %v, want ErrUnsupported", typ, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	for typ, want := range map[reflect.Type]bool{
		reflect.TypeFor[time.Time](): true, reflect.TypeFor[int](): true, reflect.TypeFor[[]byte](): true,
		reflect.TypeFor[netip.Addr](): false,
	} {
		c, err := For(typ)
		if err != nil {
			t.Fatal(err)
		}
		if c.Canonical() != want {
			t.Errorf("%s: Canonical() = %v", typ, c.Canonical())
		}
	}
}

func TestMalformed(t *testing.T) {
	good := encode(t, int64(7))
	for name, b := range map[string][]byte{
		"empty": nil, "version only": {Version}, "version 2": {2, codeInt, 0, 0, 0, 0, 0, 0, 0, 7},
		"short": good[:len(good)-1], "long": append(append([]byte{}, good...), 0), "unknown kind": {Version, 'z', 1},
	} {
		var n int64
		err := (&Codec{typ: reflect.TypeFor[int64](), code: codeInt}).Decode(b, reflect.ValueOf(&n).Elem())
		if !errors.Is(err, ErrMalformed) || n != 0 {
			t.Errorf("%s: %v (n=%d), want ErrMalformed and n unchanged", name, err, n)
		}
	}
	var ok bool
	if err := (&Codec{typ: reflect.TypeFor[bool](), code: codeBool}).Decode([]byte{Version, codeBool, 2}, reflect.ValueOf(&ok).Elem()); !errors.Is(err, ErrMalformed) {
		t.Errorf("bool 2: %v", err)
	}
	nonCanonicalNaN := []byte{Version, codeFloat, 0x7f, 0xf8, 0, 0, 0, 0, 0, 2}
	var f float64
	if err := (&Codec{typ: reflect.TypeFor[float64](), code: codeFloat}).Decode(nonCanonicalNaN, reflect.ValueOf(&f).Elem()); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-canonical NaN: %v", err)
	}
	tooLate := []byte{Version, codeTime, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	var tm time.Time
	if err := (&Codec{typ: reflect.TypeFor[time.Time](), code: codeTime}).Decode(tooLate, reflect.ValueOf(&tm).Elem()); !errors.Is(err, ErrMalformed) {
		t.Errorf("time beyond range: %v", err)
	}
}

// FuzzDecode: no input makes Decode panic, and whatever decodes re-encodes
// to the same bytes (the encoding is canonical) for the canonical kinds.
func FuzzDecode(f *testing.F) {
	for _, v := range vectorValues() {
		f.Add(encode(&testing.T{}, v))
	}
	types := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[int64](), reflect.TypeFor[int8](), reflect.TypeFor[uint64](),
		reflect.TypeFor[float64](), reflect.TypeFor[float32](), reflect.TypeFor[string](), reflect.TypeFor[[]byte](),
		reflect.TypeFor[time.Time](), reflect.TypeFor[netip.Addr](),
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range types {
			c, _ := For(typ)
			v := reflect.New(typ).Elem()
			if c.Decode(b, v) != nil || !c.Canonical() {
				continue
			}
			again, err := c.Encode(nil, v)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", typ, err)
			}
			if typ.Kind() == reflect.Int8 || typ.Kind() == reflect.Float32 {
				continue // widened on the way in; the bytes are the same value
			}
			if string(again) != string(b) {
				t.Fatalf("%s: %x decodes and re-encodes to %x", typ, b, again)
			}
		}
	})
}
