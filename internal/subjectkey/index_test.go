package subjectkey

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
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
		v, err := b.RotateIndexKey(int64(want) * 1000)
		if err != nil || v != want {
			t.Fatalf("RotateIndexKey = %d, %v; want %d", v, err, want)
		}
	}
	if err := b.RetireIndexKey(3, 5000); !errors.Is(err, ErrIndexKey) {
		t.Errorf("retiring the newest: %v, want ErrIndexKey", err)
	}
	if err := b.RetireIndexKey(7, 5000); !errors.Is(err, ErrIndexKey) {
		t.Errorf("retiring an unknown version: %v, want ErrIndexKey", err)
	}
	if err := b.RetireIndexKey(1, 5000); err != nil {
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
		if a.Version != c.Version || a.ActiveAt != c.ActiveAt || !bytes.Equal(a.Key, c.Key) || len(a.Key) != IndexKeySize {
			t.Errorf("index key %d differs after round trip", i)
		}
	}
	if at, ok := b2.IndexKeyActivation(3); !ok || at != 3000 {
		t.Errorf("activation of v3 after round trip = %d, %v; want 3000", at, ok)
	}
	if _, ok := b2.IndexKeyActivation(1); ok {
		t.Error("a retired version still has an activation time")
	}
	if bytes.Equal(k2.IndexKeys()[0].Key, k2.IndexKeys()[1].Key) {
		t.Error("two versions share a key")
	}
	// A version number is never issued twice.
	if v, _ := b2.RotateIndexKey(0); v != 4 {
		t.Errorf("next version = %d, want 4", v)
	}
	if s := fmt.Sprintf("%v %#v", k2.IndexKeys()[0], k2.IndexKeys()[0]); bytes.Contains([]byte(s), k2.IndexKeys()[0].Key) || !bytes.Contains([]byte(s), []byte("redacted")) {
		t.Errorf("IndexKey prints %q", s)
	}
}

// Version 1 of a bundle is active from the start; later versions from the
// time given, never before an older version.
func TestRotateIndexKeyActivation(t *testing.T) {
	b, _ := New()
	if _, err := b.RotateIndexKey(500); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RotateIndexKey(1000); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RotateIndexKey(10); err != nil { // earlier than v2: clamped
		t.Fatal(err)
	}
	if _, err := b.RotateIndexKey(-1); !errors.Is(err, ErrIndexKey) {
		t.Errorf("negative activation: %v, want ErrIndexKey", err)
	}
	var got []int64
	for _, v := range b.IndexKeyVersions() {
		at, _ := b.IndexKeyActivation(v)
		got = append(got, at)
	}
	if !slices.Equal(got, []int64{0, 1000, 1000}) {
		t.Fatalf("activation times = %v, want [0 1000 1000]", got)
	}
	g, _ := NewGlobal()
	if at, ok := g.IndexKeyActivation(1); !ok || at != 0 {
		t.Errorf("NewGlobal's version 1 activates at %d, %v; want 0", at, ok)
	}
}

func TestWritingIndexKey(t *testing.T) {
	keys := []IndexKey{{Version: 1}, {Version: 2, ActiveAt: 1000}, {Version: 3, ActiveAt: 2000}}
	for now, want := range map[int64]uint32{0: 1, 999: 1, 1000: 2, 1999: 2, 2000: 3, 1 << 40: 3} {
		if got := WritingIndexKey(keys, now).Version; got != want {
			t.Errorf("at %d: writes v%d, want v%d", now, got, want)
		}
	}
	// Nothing active yet (v1 retired, a clock far behind): the oldest.
	if got := WritingIndexKey(keys[1:], 5).Version; got != 2 {
		t.Errorf("nothing active: writes v%d, want v2", got)
	}
}

// The version written now cannot be retired: before v2 is active, v1 is
// what Seal writes.
func TestRetireIndexKeyRefusesWrittenVersion(t *testing.T) {
	b, _ := NewGlobal()
	b.RotateIndexKey(1000)
	b.RotateIndexKey(2000)
	if err := b.RetireIndexKey(1, 999); !errors.Is(err, ErrIndexKey) {
		t.Errorf("retiring the written v1 before v2 is active: %v, want ErrIndexKey", err)
	}
	if err := b.RetireIndexKey(2, 1500); !errors.Is(err, ErrIndexKey) {
		t.Errorf("retiring the written v2: %v, want ErrIndexKey", err)
	}
	if !slices.Equal(b.IndexKeyVersions(), []uint32{1, 2, 3}) {
		t.Fatalf("a refused retirement changed the bundle: %v", b.IndexKeyVersions())
	}
	if err := b.RetireIndexKey(1, 1000); err != nil {
		t.Errorf("retiring v1 once v2 is active: %v", err)
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
	entry := func(v uint32, at uint64) []byte {
		e := binary.BigEndian.AppendUint32(nil, v)
		e = binary.BigEndian.AppendUint64(e, at)
		return append(e, bytes.Repeat([]byte{7}, IndexKeySize)...)
	}
	cat := func(es ...[]byte) []byte { return bytes.Join(es, nil) }
	for name, good := range map[string][]byte{
		"increasing":      cat(entry(1, 0), entry(2, 1_800_000_000)),
		"same activation": cat(entry(1, 5), entry(3, 5)),
	} {
		if p, err := Parse(withPart(good, false)); err != nil || len(p.IndexKeyVersions()) != 2 {
			t.Fatalf("%s: a well-formed INDEX part: %v", name, err)
		}
	}
	oldEntry := append(binary.BigEndian.AppendUint32(nil, 1), bytes.Repeat([]byte{7}, IndexKeySize)...)
	cases := map[string][]byte{
		"empty":                withPart(nil, false),
		"short entry":          withPart(entry(1, 0)[:20], false),
		"extra bytes":          withPart(append(entry(1, 0), 0), false),
		"version 0":            withPart(entry(0, 0), false),
		"out of order":         withPart(cat(entry(2, 0), entry(1, 0)), false),
		"duplicate":            withPart(cat(entry(1, 0), entry(1, 0)), false),
		"activation goes back": withPart(cat(entry(1, 100), entry(2, 99)), false),
		"negative activation":  withPart(entry(1, 1<<63), false),
		"entry without time":   withPart(oldEntry, false),
		"part twice":           withPart(entry(1, 0), true),
	}
	for name, in := range cases {
		if _, err := Parse(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Parse = %v, want ErrCorrupt", name, err)
		}
	}
}

// The INDEX part's bytes, written out by hand from the layout in the
// package doc (not by appendIndexPart): v1 active from 0 with key 07…,
// v2 active from 1,800,000,330 (0x6b49d34a) with key 09….
func TestIndexPartLayout(t *testing.T) {
	const want = "00000001" + "0000000000000000" + "0707070707070707070707070707070707070707070707070707070707070707" +
		"00000002" + "000000006b49d34a" + "0909090909090909090909090909090909090909090909090909090909090909"
	b, _ := New()
	b.index = []IndexKey{
		{Version: 1, ActiveAt: 0, Key: bytes.Repeat([]byte{7}, IndexKeySize)},
		{Version: 2, ActiveAt: 1_800_000_330, Key: bytes.Repeat([]byte{9}, IndexKeySize)},
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, _ := hex.DecodeString(want)
	part := append([]byte{'i'}, binary.BigEndian.AppendUint32(nil, uint32(len(wantBytes)))...)
	part = append(part, wantBytes...)
	if !bytes.Contains(raw, part) {
		t.Fatalf("Marshal does not hold the INDEX part %s", want)
	}
	b2, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if at, _ := b2.IndexKeyActivation(2); at != 1_800_000_330 {
		t.Errorf("parsed activation of v2 = %d", at)
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
