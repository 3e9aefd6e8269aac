package subjectkey

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestNewGlobalHasIndexKeyV1(t *testing.T) {
	b, err := NewGlobal()
	if err != nil {
		t.Fatal(err)
	}
	if got := b.IndexKeyVersions(); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("IndexKeyVersions = %v, want [1]", got)
	}
	s, _ := New()
	if s.HasIndexKeys() {
		t.Error("a subject bundle has index keys")
	}
}

func TestIndexKeysRoundTripRotateRetire(t *testing.T) {
	b, _ := New() // an old global bundle: no INDEX part
	for want := uint32(1); want <= 3; want++ {
		v, err := b.RotateIndexKey()
		if err != nil || v != want {
			t.Fatalf("RotateIndexKey = %d, %v; want %d", v, err, want)
		}
	}
	if err := b.RetireIndexKey(3); !errors.Is(err, ErrIndexKey) {
		t.Errorf("retiring the newest: %v, want ErrIndexKey", err)
	}
	if err := b.RetireIndexKey(7); !errors.Is(err, ErrIndexKey) {
		t.Errorf("retiring an unknown version: %v, want ErrIndexKey", err)
	}
	if err := b.RetireIndexKey(1); err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := b2.IndexKeyVersions(); !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("after retire and round trip: %v, want [2 3]", got)
	}
	k1, _ := b.Keys()
	k2, _ := b2.Keys()
	for i := range k1.IndexKeys() {
		a, c := k1.IndexKeys()[i], k2.IndexKeys()[i]
		if a.Version != c.Version || !bytes.Equal(a.Key, c.Key) || len(a.Key) != IndexKeySize {
			t.Errorf("index key %d differs after round trip", i)
		}
	}
	if bytes.Equal(k2.IndexKeys()[0].Key, k2.IndexKeys()[1].Key) {
		t.Error("two versions share a key")
	}
	// A version number is never issued twice.
	if v, _ := b2.RotateIndexKey(); v != 4 {
		t.Errorf("next version = %d, want 4", v)
	}
	if s := fmt.Sprintf("%v %#v", k2.IndexKeys()[0], k2.IndexKeys()[0]); bytes.Contains([]byte(s), k2.IndexKeys()[0].Key) || !bytes.Contains([]byte(s), []byte("redacted")) {
		t.Errorf("IndexKey prints %q", s)
	}
}

// The index keys are independent of every other key of the bundle: none
// is derived from another, and the subject root is a PRF output with a
// label of its own.
func TestIndexKeysIndependent(t *testing.T) {
	b, _ := NewGlobal()
	k, _ := b.Keys()
	root := k.IndexKeys()[0].Key
	tokenRaw, _ := k.tokenPRF.ComputePrimaryPRF([]byte("fieldcrypt/token-key/v1"), 32)
	addrRaw, _ := k.PRF.ComputePrimaryPRF([]byte("fieldcrypt/token-key/v1"), 32)
	subj, err := k.SubjectIndexRoot()
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string][]byte{"token key": tokenRaw, "addressing-derived key": addrRaw, "subject root": subj} {
		if bytes.Equal(root, other) {
			t.Errorf("index root equals the %s", name)
		}
	}
	b2, _ := New()
	k2, _ := b2.Keys()
	s2, _ := k2.SubjectIndexRoot()
	again, _ := k2.SubjectIndexRoot()
	if bytes.Equal(subj, s2) || !bytes.Equal(s2, again) || len(s2) != IndexKeySize {
		t.Error("subject index roots are not per bundle and stable")
	}
}

func TestParseRejectsInconsistentIndexPart(t *testing.T) {
	b, _ := New()
	raw, _ := b.Marshal()
	withPart := func(payload []byte, twice bool) []byte {
		out := append([]byte{}, raw...)
		n := 1
		if twice {
			n = 2
		}
		out[5] += byte(n)
		for range n {
			out = append(out, 'i')
			out = binary.BigEndian.AppendUint32(out, uint32(len(payload)))
			out = append(out, payload...)
		}
		return out
	}
	entry := func(v uint32) []byte {
		return append(binary.BigEndian.AppendUint32(nil, v), bytes.Repeat([]byte{7}, IndexKeySize)...)
	}
	good := append(entry(1), entry(2)...)
	if p, err := Parse(withPart(good, false)); err != nil || !slices.Equal(p.IndexKeyVersions(), []uint32{1, 2}) {
		t.Fatalf("a well-formed INDEX part: %v", err)
	}
	cases := map[string][]byte{
		"empty":        withPart(nil, false),
		"short entry":  withPart(entry(1)[:20], false),
		"extra bytes":  withPart(append(entry(1), 0), false),
		"version 0":    withPart(entry(0), false),
		"out of order": withPart(append(entry(2), entry(1)...), false),
		"duplicate":    withPart(append(entry(1), entry(1)...), false),
		"part twice":   withPart(entry(1), true),
	}
	for name, in := range cases {
		if _, err := Parse(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Parse = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestWithTokenKeyKeepsIndexKeys(t *testing.T) {
	b, _ := NewGlobal()
	k, _ := b.Keys()
	ids, _ := k.TokenKeyIDs()
	k2, err := k.WithTokenKey(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(k2.IndexKeys()) != 1 || !bytes.Equal(k2.IndexKeys()[0].Key, k.IndexKeys()[0].Key) {
		t.Error("WithTokenKey dropped the index keys")
	}
}
