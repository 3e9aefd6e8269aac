package blindindex

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

var testName = Name{Scope: "shop.Customer", Field: "Email", Index: "email"}

func mustTransform(t testing.TB, spec string) Transform {
	t.Helper()
	tr, err := ParseTransform(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func testRoot(b byte) RootKey {
	k, _ := NewRootKey(bytes.Repeat([]byte{b}, RootKeySize))
	return k
}

func mustKey(t testing.TB, root RootKey, v uint32, n Name, d Definition) *Key {
	t.Helper()
	k, err := NewKey(root, v, n, d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTermSeparation(t *testing.T) {
	d := Definition{Inputs: []Transform{mustTransform(t, "trim+fold")}, Bits: 64}
	base := mustKey(t, testRoot(1), 1, testName, d)
	ref, _ := base.Term("ann@example.com")
	if same, _ := base.Term("  ANN@example.com"); same != ref {
		t.Error("the transform did not make equal values equal")
	}
	other := map[string]*Key{
		"root":      mustKey(t, testRoot(2), 1, testName, d),
		"version":   mustKey(t, testRoot(1), 2, testName, d),
		"scope":     mustKey(t, testRoot(1), 1, Name{"shop.Other", "Email", "email"}, d),
		"field":     mustKey(t, testRoot(1), 1, Name{"shop.Customer", "Email2", "email"}, d),
		"index":     mustKey(t, testRoot(1), 1, Name{"shop.Customer", "Email", "email2"}, d),
		"transform": mustKey(t, testRoot(1), 1, testName, Definition{Inputs: []Transform{mustTransform(t, "fold")}, Bits: 64}),
		"slow":      mustKey(t, testRoot(1), 1, testName, Definition{Inputs: d.Inputs, Bits: 64, Slow: &Argon2Params{MemoryKiB: 8, Time: 1, Threads: 1}}),
		// Name parts are length-prefixed: moving a byte between them changes the key.
		"boundary": mustKey(t, testRoot(1), 1, Name{"shop.CustomerE", "mail", "email"}, d),
	}
	for what, k := range other {
		got, _ := k.Term("ann@example.com")
		if bytes.Equal(got.b[:8], ref.b[:8]) {
			t.Errorf("changing the %s did not change the term", what)
		}
	}
	// A different bits gives an unrelated term, not a prefix of the other.
	k32 := mustKey(t, testRoot(1), 1, testName, Definition{Inputs: d.Inputs, Bits: 32})
	t32, _ := k32.Term("ann@example.com")
	if bytes.Equal(t32.b[:4], ref.b[:4]) {
		t.Error("a 32-bit term is a prefix of the 64-bit term of the same index")
	}
}

func TestCompoundUnambiguous(t *testing.T) {
	k := mustKey(t, testRoot(1), 1, testName, Definition{Inputs: make([]Transform, 2), Bits: 128})
	a, _ := k.Term("ab", "c")
	b, _ := k.Term("a", "bc")
	c, _ := k.Term("abc", "")
	if a == b || a == c || b == c {
		t.Fatal("compound values are ambiguous")
	}
}

func TestTruncationMasksBits(t *testing.T) {
	for bits := MinBits; bits <= MaxBits; bits++ {
		k := mustKey(t, testRoot(1), 1, testName, Definition{Bits: bits})
		full := mustKey(t, testRoot(1), 1, testName, Definition{Bits: bits})
		for i := range 32 {
			tm, err := k.Term(fmt.Sprint(i))
			if err != nil {
				t.Fatal(err)
			}
			if tm.Len() != (bits+7)/8 {
				t.Fatalf("bits %d: %d bytes", bits, tm.Len())
			}
			if r := bits % 8; r != 0 && tm.b[tm.n-1]&(0xFF>>r) != 0 {
				t.Fatalf("bits %d: low bits set in %x", bits, tm.b[:tm.n])
			}
			u, _ := full.Term(fmt.Sprint(i))
			if u != tm {
				t.Fatal("not deterministic")
			}
		}
	}
}

func TestTermEncodingLength(t *testing.T) {
	k := mustKey(t, testRoot(1), 7, testName, Definition{Bits: 20})
	for i := range 50 {
		tm, _ := k.Term(strings.Repeat("x", i))
		s := tm.String()
		if len(s) != len("v7:")+6 || !strings.HasPrefix(s, "v7:") {
			t.Fatalf("%q", s)
		}
		if len(tm.Bytes()) != 4+3 {
			t.Fatalf("%x", tm.Bytes())
		}
	}
}

func TestKeyErrors(t *testing.T) {
	if _, err := NewRootKey(make([]byte, 31)); !errors.Is(err, ErrInvalidKey) {
		t.Error(err)
	}
	if _, err := NewKey(RootKey{}, 1, testName, Definition{}); !errors.Is(err, ErrInvalidKey) {
		t.Error(err)
	}
	if _, err := NewKey(testRoot(1), 0, testName, Definition{}); !errors.Is(err, ErrInvalidVersion) {
		t.Error(err)
	}
	for _, d := range []Definition{
		{Bits: 7}, {Bits: 129}, {Bits: -1},
		{Inputs: make([]Transform, MaxInputs+1)},
		{Slow: &Argon2Params{MemoryKiB: 8, Time: 0, Threads: 1}},
		{Slow: &Argon2Params{MemoryKiB: 8, Time: 1, Threads: 2}},
	} {
		if _, err := NewKey(testRoot(1), 1, testName, d); !errors.Is(err, ErrSpec) {
			t.Errorf("%+v: %v", d, err)
		}
	}
	k := mustKey(t, testRoot(1), 1, testName, Definition{Inputs: []Transform{mustTransform(t, "trim"), mustTransform(t, "email-domain")}})
	var ae *ArityError
	if _, err := k.Term("only one"); !errors.As(err, &ae) || ae.Want != 2 || ae.Got != 1 || !errors.Is(err, ErrArity) {
		t.Errorf("arity: %v", err)
	}
	_, err := k.Term("fine", "secret-value-without-at")
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Input != 1 || !errors.Is(err, ErrNotEmail) || strings.Contains(err.Error(), "secret") {
		t.Errorf("value: %v", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	root, _ := NewRootKey(bytes.Repeat([]byte{0xab}, RootKeySize))
	k := mustKey(t, root, 1, testName, Definition{})
	for _, s := range []string{fmt.Sprint(root), fmt.Sprintf("%v %+v %#v %x %s %q", root, root, root, root, root, root), fmt.Sprintf("%v %+v %#v %x", k, k, k, k)} {
		if strings.Contains(s, "ab") && strings.Contains(s, "abab") || !strings.Contains(s, "redacted") {
			t.Errorf("%s", s)
		}
	}
}

func TestKeyring(t *testing.T) {
	d := Definition{Inputs: []Transform{mustTransform(t, "trim+fold")}}
	r, err := NewKeyring(testName, d, map[uint32]RootKey{1: testRoot(1), 3: testRoot(3), 2: testRoot(2)})
	if err != nil {
		t.Fatal(err)
	}
	if vs := r.Versions(); fmt.Sprint(vs) != "[3 2 1]" || r.Newest().Version() != 3 {
		t.Fatalf("versions %v", vs)
	}
	w, _ := r.Term(" Ann@Example.com")
	ts, err := r.Terms("ann@example.com")
	if err != nil || len(ts) != 3 || ts[0] != w || w.Version() != 3 {
		t.Fatalf("%v %v", ts, err)
	}
	for i, v := range []uint32{3, 2, 1} {
		k, err := r.Key(v)
		if err != nil {
			t.Fatal(err)
		}
		single, _ := k.Term("ann@example.com")
		if ts[i] != single || single.Version() != v {
			t.Errorf("version %d: %v vs %v", v, ts[i], single)
		}
	}
	if _, err := r.Key(4); !errors.Is(err, ErrUnknownVersion) {
		t.Error(err)
	}
	if _, err := NewKeyring(testName, d, nil); !errors.Is(err, ErrUnknownVersion) {
		t.Error(err)
	}
	if _, err := r.Terms("a", "b"); !errors.Is(err, ErrArity) {
		t.Error(err)
	}
}

func TestNormalize(t *testing.T) {
	d := Definition{Inputs: []Transform{mustTransform(t, "trim+fold"), mustTransform(t, "digits")}}
	got, err := d.Normalize(" LEE ", "born 1984")
	if err != nil || fmt.Sprint(got) != "[lee 1984]" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := d.Normalize("x"); !errors.Is(err, ErrArity) {
		t.Error(err)
	}
	if s := d.String(); s != "trim+fold|digits;bits=16" {
		t.Error(s)
	}
	d.Slow = &DefaultSlow
	if s := d.String(); s != "trim+fold|digits;bits=16;slow=m19456+t2+p1" {
		t.Error(s)
	}
}

// TestConcurrentTerms hammers one Key and one Keyring from many
// goroutines (run with -race).
func TestConcurrentTerms(t *testing.T) {
	d := Definition{Inputs: []Transform{mustTransform(t, "nfkc+trim+fold")}, Bits: 32}
	r, _ := NewKeyring(testName, d, map[uint32]RootKey{1: testRoot(1), 2: testRoot(2)})
	want := make([]Term, 64)
	for i := range want {
		want[i], _ = r.Term(fmt.Sprintf("User%d@Example.com", i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				j := (i + g) % len(want)
				got, err := r.Term(fmt.Sprintf(" user%d@example.COM", j))
				if err != nil || got != want[j] {
					t.Errorf("goroutine %d: %v %v", g, got, err)
					return
				}
				if ts, err := r.Terms(fmt.Sprintf("USER%d@example.com", j)); err != nil || ts[0] != want[j] {
					t.Errorf("goroutine %d: %v %v", g, ts, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestTermAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	k := mustKey(t, testRoot(1), 1, testName, Definition{})
	k.Term("warm")
	if n := testing.AllocsPerRun(100, func() { k.Term("ann@example.com") }); n > 0 {
		t.Errorf("Term allocates %.0f times", n)
	}
}
