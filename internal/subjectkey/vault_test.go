package subjectkey

import (
	"bytes"
	"errors"
	"testing"
)

func TestVaultKeyRoundTrip(t *testing.T) {
	g, err := NewGlobal()
	if err != nil {
		t.Fatal(err)
	}
	if !g.HasVaultKey() {
		t.Fatal("a new global bundle has no vault key")
	}
	if err := g.AddVaultKey(); err == nil {
		t.Error("AddVaultKey replaced an existing vault key")
	}
	raw, _ := g.Marshal()
	g2, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := g.Keys()
	k2, _ := g2.Keys()
	if len(k1.VaultKey()) != VaultKeySize || !bytes.Equal(k1.VaultKey(), k2.VaultKey()) {
		t.Error("vault key lost in the round trip")
	}
	if pinned, err := k2.WithTokenKey(mustPrimaryToken(t, k2)); err != nil || !bytes.Equal(pinned.VaultKey(), k2.VaultKey()) {
		t.Errorf("WithTokenKey dropped the vault key: %v", err)
	}

	// An older global bundle (no VAULT part) gains one.
	old, _ := New()
	if old.HasVaultKey() {
		t.Fatal("a subject bundle has a vault key")
	}
	if err := old.AddVaultKey(); err != nil {
		t.Fatal(err)
	}
	raw, _ = old.Marshal()
	if b, err := Parse(raw); err != nil || !b.HasVaultKey() {
		t.Fatalf("added vault key lost: %v", err)
	}
}

func mustPrimaryToken(t *testing.T, k *Keys) uint32 {
	t.Helper()
	_, p := k.TokenKeyIDs()
	return p
}

func TestVaultPartCorrupt(t *testing.T) {
	b, _ := New()
	raw, _ := b.Marshal()
	for _, n := range []int{0, 31, 33} {
		bad := append([]byte(nil), raw...)
		bad[5]++ // one more part
		bad = append(bad, 'v', 0, 0, 0, byte(n))
		bad = append(bad, make([]byte, n)...)
		if _, err := Parse(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("vault part of %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	bad := append([]byte(nil), raw...)
	bad[5] += 2
	for range 2 {
		bad = append(bad, 'v', 0, 0, 0, 32)
		bad = append(bad, make([]byte, 32)...)
	}
	if _, err := Parse(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("two vault parts: %v, want ErrCorrupt", err)
	}
}

func TestSubjectVaultKeysAreDistinct(t *testing.T) {
	b, _ := New()
	k, _ := b.Keys()
	part, err := k.VaultPartition()
	if err != nil || len(part) != 16 {
		t.Fatalf("partition: %d bytes, %v", len(part), err)
	}
	ix, err := k.VaultIndexKey()
	if err != nil || len(ix) != VaultKeySize {
		t.Fatalf("index key: %d bytes, %v", len(ix), err)
	}
	root, _ := k.SubjectIndexRoot()
	if bytes.Equal(ix, root) || bytes.Equal(ix[:16], part) {
		t.Error("vault keys are not independent of the index root")
	}
	b2, _ := Parse(must(b.Marshal()))
	k2, _ := b2.Keys()
	if p2, _ := k2.VaultPartition(); !bytes.Equal(p2, part) {
		t.Error("the partition is not stable across a round trip")
	}
	other, _ := New()
	ko, _ := other.Keys()
	if po, _ := ko.VaultPartition(); bytes.Equal(po, part) {
		t.Error("two subjects share a partition")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
