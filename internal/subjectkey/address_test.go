package subjectkey

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestAddressChainSurvivesMarshal(t *testing.T) {
	b, err := NewGlobal()
	if err != nil {
		t.Fatal(err)
	}
	if n, live := b.AddressGenerations(); n != 0 || live != 0 {
		t.Fatalf("fresh bundle: generations %d, %d", n, live)
	}
	for want := 1; want <= 3; want++ {
		if n, err := b.RotateAddressKey(); err != nil || n != want {
			t.Fatalf("RotateAddressKey = %d, %v; want %d", n, err, want)
		}
	}
	keys, err := b.Keys()
	if err != nil {
		t.Fatal(err)
	}
	links, live := keys.AddressChain()
	if len(links) != 3 || live != 0 {
		t.Fatalf("AddressChain = %d links, live %d", len(links), live)
	}
	var outs [][]byte
	for _, l := range links {
		o, err := l.ComputePRF([]byte("x"), 32)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	if !b.RetireAddressGenerations() || b.RetireAddressGenerations() {
		t.Fatal("RetireAddressGenerations changed nothing, or changed something twice")
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n, live := b2.AddressGenerations(); n != 3 || live != 3 {
		t.Fatalf("parsed generations %d, %d; want 3, 3", n, live)
	}
	keys2, err := b2.Keys()
	if err != nil {
		t.Fatal(err)
	}
	links2, _ := keys2.AddressChain()
	for i, l := range links2 {
		o, err := l.ComputePRF([]byte("x"), 32)
		if err != nil || !bytes.Equal(o, outs[i]) {
			t.Fatalf("link %d changed across Marshal/Parse (order must be kept)", i+1)
		}
	}
	// A live generation past the chain, a GEN part without ADDR, and a GEN
	// part of the wrong size are corrupt.
	past := bytes.Clone(raw)
	binary.BigEndian.PutUint32(past[len(past)-4:], 4)
	if _, err := Parse(past); !errors.Is(err, ErrCorrupt) {
		t.Errorf("live past the chain: %v", err)
	}
	plain, _ := New()
	praw, _ := plain.Marshal()
	praw[5]++
	praw = append(praw, 'g', 0, 0, 0, 4, 0, 0, 0, 0)
	if _, err := Parse(praw); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GEN without ADDR: %v", err)
	}
	short := append(bytes.Clone(raw[:len(raw)-9]), 'g', 0, 0, 0, 3, 0, 0, 0)
	if _, err := Parse(short); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GEN of 3 bytes: %v", err)
	}
}
