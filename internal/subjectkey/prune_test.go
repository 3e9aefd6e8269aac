package subjectkey

import (
	"slices"
	"testing"
)

func TestPruneAEADKeepsPrimaryAndNewest(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	k0, _ := b.Keys()
	old, _ := k0.AEAD.Encrypt([]byte("old"), nil)
	var rotated []uint32
	for range 5 {
		id, err := b.RotateAEAD()
		if err != nil {
			t.Fatal(err)
		}
		rotated = append(rotated, id)
	}
	k5, _ := b.Keys()
	recent, _ := k5.AEAD.Encrypt([]byte("recent"), nil)
	before := b.AEADKeyIDs()
	if _, err := b.PruneAEAD(0); err == nil {
		t.Error("PruneAEAD(0) accepted")
	}
	removed, err := b.PruneAEAD(3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.AEADKeyIDs(), rotated[2:]; !slices.Equal(got, want) {
		t.Errorf("after PruneAEAD(3): %v, want the 3 newest %v (had %v)", got, want, before)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v, want 3 ids", removed)
	}
	k, err := b.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.AEAD.Decrypt(recent, nil); err != nil || string(pt) != "recent" {
		t.Errorf("a kept key no longer opens: %v", err)
	}
	if _, err := k.AEAD.Decrypt(old, nil); err == nil {
		t.Error("a pruned key still opens")
	}
	if removed, err := b.PruneAEAD(3); err != nil || removed != nil {
		t.Errorf("second PruneAEAD(3) = %v, %v; want nothing to do", removed, err)
	}
}
