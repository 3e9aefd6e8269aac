package blindindex

import (
	"errors"
	"testing"
)

func TestParseTerm(t *testing.T) {
	k := mustKey(t, testRoot(1), 12, testName, Definition{Bits: 44})
	tm, _ := k.Term("x")
	u, err := ParseTerm(tm.String())
	if err != nil || u != tm {
		t.Fatalf("%v %v", u, err)
	}
	b, err := ParseTermBytes(tm.Bytes())
	if err != nil || b != tm {
		t.Fatalf("%v %v", b, err)
	}
	var w Term
	txt, _ := tm.MarshalText()
	if err := w.UnmarshalText(txt); err != nil || w != tm {
		t.Fatal(err)
	}
	bin, _ := tm.MarshalBinary()
	if err := w.UnmarshalBinary(bin); err != nil || w != tm {
		t.Fatal(err)
	}
	if (Term{}).String() != "" || (Term{}).Bytes() != nil || !(Term{}).IsZero() {
		t.Fatal("zero term")
	}
	for _, s := range []string{"", "v", "v1:", "v1:a", "v1:AB", "v0:ab", "v01:ab", "v+1:ab", "x1:ab", "v1ab", "v1:abz0", "v4294967296:ab",
		"v1:" + "00112233445566778899aabbccddeeff00"} {
		if _, err := ParseTerm(s); !errors.Is(err, ErrInvalidTerm) {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, b := range [][]byte{nil, {0, 0, 0, 1}, {0, 0, 0, 0, 1}, make([]byte, 21)} {
		if _, err := ParseTermBytes(b); !errors.Is(err, ErrInvalidTerm) {
			t.Errorf("%x: %v", b, err)
		}
	}
}

func TestParseSlow(t *testing.T) {
	for spec, want := range map[string]Argon2Params{
		"":             DefaultSlow,
		"m65536":       {65536, 2, 1},
		"t3":           {19456, 3, 1},
		"m1024+t1+p2":  {1024, 1, 2},
		"m19456+t2+p1": DefaultSlow,
	} {
		got, err := ParseSlow(spec)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", spec, got, err)
		}
	}
	for _, spec := range []string{"t2+m1024", "m", "m0", "m01", "x3", "t0", "t65", "p17", "p0", "m7", "m15+p2", "m1024++t1", "m1024+m2048", "m99999999999"} {
		if _, err := ParseSlow(spec); !errors.Is(err, ErrSpec) {
			t.Errorf("%q: %v", spec, err)
		}
	}
	if DefaultSlow.String() != "m19456+t2+p1" {
		t.Error(DefaultSlow.String())
	}
}

func TestParseBits(t *testing.T) {
	for _, s := range []string{"8", "16", "128", "33"} {
		if _, err := ParseBits(s); err != nil {
			t.Error(s, err)
		}
	}
	for _, s := range []string{"", "7", "129", "016", "+16", "16 ", "0x10", "-8"} {
		if _, err := ParseBits(s); !errors.Is(err, ErrSpec) {
			t.Errorf("%q: %v", s, err)
		}
	}
}
