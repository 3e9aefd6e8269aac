package subjectkey

import (
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
)

// The addressing chain. Generation 0 is the PRF keyset's primary key, which
// addresses records by a keyed hash of the subject (the pii package derives
// the record ID). Each rotation of the addressing key (RotateAddressKey)
// adds a generation g >= 1 with a key k_g of its own, and a subject's
// generation-g address is a keyed hash of its generation g-1 address under
// k_g, so a store can be re-addressed from its record IDs alone, without
// the subjects. Computing the newest address of a subject needs every key of
// the chain: none is ever removed. A leaked k_0 .. k_{g-1} lets an attacker
// compute a subject's older addresses, not its generation-g one.
//
// The bundle also records the oldest generation that may still hold
// records (the live generation): lookups try every generation from the
// newest down to it. RetireAddressGenerations raises it to the newest once
// every record has been re-addressed.

// AddressChain returns the keys of generations 1 .. n in order (none for
// a bundle whose addressing key was never rotated) and the oldest live
// generation (0 .. n).
func (k *Keys) AddressChain() (links []prf.PRF, live int) {
	return k.addrChain, k.addrLive
}

// AddressGenerations reports the newest generation n (0 if the addressing
// key was never rotated) and the oldest live one.
func (b *Bundle) AddressGenerations() (newest, live int) {
	if b.addr == nil {
		return 0, 0
	}
	return len(b.addr.KeysetInfo().GetKeyInfo()), int(b.addrLive)
}

// RotateAddressKey adds a generation to the addressing chain, with a fresh
// key, and returns its number. The live generation is unchanged: records
// stay where they are until they are re-addressed.
func (b *Bundle) RotateAddressKey() (int, error) {
	if b.addr == nil {
		h, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
		if err != nil {
			return 0, fmt.Errorf("subjectkey: generate addressing key: %w", err)
		}
		b.addr, b.addrLive = h, 0
		return 1, nil
	}
	m := keyset.NewManagerFromHandle(b.addr)
	id, err := m.Add(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return 0, fmt.Errorf("subjectkey: rotate addressing key: %w", err)
	}
	// The primary is never used (each key is used by its position); keep
	// it on the newest so that the keyset reads naturally.
	if err := m.SetPrimary(id); err != nil {
		return 0, fmt.Errorf("subjectkey: rotate addressing key: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return 0, fmt.Errorf("subjectkey: rotate addressing key: %w", err)
	}
	b.addr = h
	n, _ := b.AddressGenerations()
	return n, nil
}

// RetireAddressGenerations makes the newest generation the only live one:
// lookups stop trying older addresses. Call it only once no record or
// tombstone is left at an older address. It reports whether anything
// changed.
func (b *Bundle) RetireAddressGenerations() bool {
	n, live := b.AddressGenerations()
	if n == live {
		return false
	}
	b.addrLive = uint32(n)
	return true
}

// chainOf returns the PRFs of h in keyset order.
func chainOf(h *keyset.Handle) ([]prf.PRF, error) {
	set, err := prf.NewPRFSet(h)
	if err != nil {
		return nil, fmt.Errorf("subjectkey: addressing keyset: %w", err)
	}
	infos := h.KeysetInfo().GetKeyInfo()
	out := make([]prf.PRF, 0, len(infos))
	for _, info := range infos {
		f, ok := set.PRFs[info.GetKeyId()]
		if !ok {
			return nil, fmt.Errorf("%w: addressing key %d is not enabled", ErrCorrupt, info.GetKeyId())
		}
		out = append(out, f)
	}
	return out, nil
}
