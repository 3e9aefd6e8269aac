package subjectkey

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

func TestMarshalParseRoundTrip(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := b.Keys()
	b2, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := b2.Keys()
	ct, _ := k1.AEAD.Encrypt([]byte("pt"), []byte("ad"))
	if pt, err := k2.AEAD.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "pt" {
		t.Fatalf("parsed bundle does not open what the original sealed: %v", err)
	}
	d1, _ := k1.DAEAD.EncryptDeterministically([]byte("pt"), nil)
	d2, _ := k2.DAEAD.EncryptDeterministically([]byte("pt"), nil)
	if !bytes.Equal(d1, d2) {
		t.Error("deterministic key differs after parse")
	}
	if len(k1.KeyIDs) != 3 {
		t.Errorf("KeyIDs = %v, want 3 ids", k1.KeyIDs)
	}
}

func TestRotateAEADKeepsOldKeys(t *testing.T) {
	b, _ := New()
	old, _ := b.Keys()
	ct, _ := old.AEAD.Encrypt([]byte("old"), nil)
	id, err := b.RotateAEAD()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := b.Marshal()
	b2, _ := Parse(raw)
	k, _ := b2.Keys()
	if pt, err := k.AEAD.Decrypt(ct, nil); err != nil || string(pt) != "old" {
		t.Fatalf("rotated bundle cannot open old ciphertext: %v", err)
	}
	fresh, _ := k.AEAD.Encrypt([]byte("new"), nil)
	if got := uint32(fresh[1])<<24 | uint32(fresh[2])<<16 | uint32(fresh[3])<<8 | uint32(fresh[4]); got != id {
		t.Errorf("new ciphertext uses key %d, want the new primary %d", got, id)
	}
	if len(k.KeyIDs) != 4 {
		t.Errorf("KeyIDs after rotation = %v, want 4", k.KeyIDs)
	}
}

func TestParseRejectsCorrupt(t *testing.T) {
	b, _ := New()
	raw, _ := b.Marshal()
	cases := map[string][]byte{
		"empty":       nil,
		"bad magic":   append([]byte("XXXX"), raw[4:]...),
		"bad version": append(append([]byte{}, raw[:4]...), append([]byte{9}, raw[5:]...)...),
		"truncated":   raw[:len(raw)-3],
		"trailing":    append(append([]byte{}, raw...), 0),
		"count 2":     append(append(append([]byte{}, raw[:5]...), 2), raw[6:]...),
		"header only": raw[:6],
		"huge length": append(append([]byte{}, raw[:7]...), 0xff, 0xff, 0xff, 0xff),
	}
	for name, in := range cases {
		if _, err := Parse(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Parse = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestWrapAssociatedDataDistinguishesRecords(t *testing.T) {
	if bytes.Equal(WrapAssociatedData("s.a"), WrapAssociatedData("s.b")) {
		t.Error("two records share wrap associated data")
	}
}

func TestKeysNeverPrint(t *testing.T) {
	b, _ := New()
	k, _ := b.Keys()
	if s := k.String(); s != "subjectkey.Keys([redacted])" {
		t.Errorf("String = %q", s)
	}
}

func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzParse"))
	if err != nil || len(entries) == 0 {
		f.Fatalf("seed corpus testdata/fuzz/FuzzParse is empty or missing: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := b.Keys(); err != nil {
			return
		}
	})
}

// KeyIDs lists the same keys, in the same order, as Tink's KeysetInfo.
func TestKeyIDsMatchKeysetInfo(t *testing.T) {
	b, err := NewGlobal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RotateAEAD(); err != nil {
		t.Fatal(err)
	}
	var want []uint32
	for _, h := range []*keyset.Handle{b.aead, b.daead, b.prf, b.token, b.addr} {
		if h == nil {
			continue
		}
		for _, k := range h.KeysetInfo().GetKeyInfo() {
			want = append(want, k.GetKeyId())
		}
	}
	if got := b.KeyIDs(); !slices.Equal(got, want) {
		t.Errorf("KeyIDs = %v, KeysetInfo lists %v", got, want)
	}
}
