package pii

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tink-crypto/tink-go/v2/prf"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Record addresses and their generations.
//
// Generation 0 addresses a subject by "s." || base64url(HMAC-SHA256(k_0,
// "fieldcrypt/subject/v1" || 0x00 || subject)), k_0 being the global PRF
// key. Each RotateAddressingKey adds a generation g with a key k_g of its
// own, and the subject's generation-g address is
//
//	"s" || g (decimal) || "." || base64url(HMAC-SHA256(k_g, "fieldcrypt/readdress/v1" || 0x00 || address_{g-1}))
//
// so that a record can be moved to its new address from its old one alone
// (ReaddressAll), without the store ever holding subject identifiers.
// Whoever holds k_0 .. k_{g-1} but not k_g cannot compute a subject's
// generation-g address. The generation is visible in the address, so a
// scan tells what is left to move.
const readdressLabel = "fieldcrypt/readdress/v1\x00"

// addressing is a snapshot of the addressing chain, replaced as a whole
// (keyring.addr) when the global record changes.
type addressing struct {
	base  *prf.Set  // generation 0: the global PRF
	links []prf.PRF // generations 1 .. n
	live  int       // oldest generation that may hold records
	// tombstoneKey is the HMAC key of TombstoneMAC, derived from the newest
	// generation's key.
	tombstoneKey []byte
	// version and incarnation of the global record this came from; version
	// 0: unknown (the next refresh reads the record again).
	version     int64
	incarnation string
}

func newAddressing(keys *subjectkey.Keys, rec keystore.Record) (*addressing, error) {
	a := &addressing{base: keys.PRF, version: rec.Version, incarnation: rec.Incarnation}
	a.links, a.live = keys.AddressChain()
	var err error
	if n := len(a.links); n > 0 {
		a.tombstoneKey, err = a.links[n-1].ComputePRF([]byte(tombstoneMACLabel), 32)
	} else {
		a.tombstoneKey, err = keys.PRF.ComputePrimaryPRF([]byte(tombstoneMACLabel), 32)
	}
	if err != nil {
		return nil, fmt.Errorf("pii: derive tombstone key: %w", err)
	}
	return a, nil
}

// newest is the newest generation.
func (a *addressing) newest() int { return len(a.links) }

// ids returns subject's addresses from the newest generation down to the
// oldest live one (down to 0 with all).
func (a *addressing) ids(subject string, all bool) ([]string, error) {
	mac, err := a.base.ComputePrimaryPRF([]byte("fieldcrypt/subject/v1\x00"+subject), 32)
	if err != nil {
		return nil, fmt.Errorf("pii: derive subject reference: %w", err)
	}
	id := "s." + base64.RawURLEncoding.EncodeToString(mac)
	out := make([]string, a.newest()+1)
	out[a.newest()] = id
	for g := 1; g <= a.newest(); g++ {
		if id, err = a.next(id, g); err != nil {
			return nil, err
		}
		out[a.newest()-g] = id
	}
	if !all {
		out = out[:a.newest()-a.live+1]
	}
	return out, nil
}

// next is the generation-g address of the generation g-1 address id.
func (a *addressing) next(id string, g int) (string, error) {
	mac, err := a.links[g-1].ComputePRF([]byte(readdressLabel+id), 32)
	if err != nil {
		return "", fmt.Errorf("pii: derive subject reference: %w", err)
	}
	return "s" + strconv.Itoa(g) + "." + base64.RawURLEncoding.EncodeToString(mac), nil
}

// forward is the newest address of id, an address of generation g.
func (a *addressing) forward(id string, g int) (string, error) {
	for g < a.newest() {
		g++
		var err error
		if id, err = a.next(id, g); err != nil {
			return "", err
		}
	}
	return id, nil
}

// Generation returns the addressing generation of a subject record ID ("s."
// and 43 base64url characters: 0; "s<g>." and 43: g), and false for any
// other ID (the global record, or not fieldcrypt's).
func Generation(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, "s")
	if !ok {
		return 0, false
	}
	dot := strings.IndexByte(rest, '.')
	if dot < 0 || len(rest)-dot-1 != 43 {
		return 0, false
	}
	g := 0
	if dot > 0 {
		n, err := strconv.Atoi(rest[:dot])
		if err != nil || n < 1 || rest[0] == '0' || strconv.Itoa(n) != rest[:dot] {
			return 0, false
		}
		g = n
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest[dot+1:])
	if err != nil || len(b) != 32 {
		return 0, false
	}
	return g, true
}

// refresh reads the global record again if it changed since the keyring's
// addressing was built (another process rotated the addressing key or
// retired generations), and installs its addressing. It reports whether
// it changed. Subject keys do not change with their address, so cached
// keys stay valid.
func (r *keyring) refresh(ctx context.Context) (bool, error) {
	cur := r.addr.Load()
	rec, err := r.store.Get(ctx, globalRecordID)
	if err != nil {
		return false, fmt.Errorf("pii: read global keys: %w", err)
	}
	if cur.version != 0 && rec.Version == cur.version && rec.Incarnation == cur.incarnation {
		return false, nil
	}
	keys, err := r.unwrap(ctx, rec)
	if err != nil {
		return false, fmt.Errorf("pii: load global keys: %w", err)
	}
	a, err := newAddressing(keys, rec)
	if err != nil {
		return false, err
	}
	if err := r.setIndexRoots(keys); err != nil {
		return false, err
	}
	changed := len(a.links) != len(cur.links) || a.live != cur.live || !hmac.Equal(a.tombstoneKey, cur.tombstoneKey)
	r.addr.Store(a)
	return changed, nil
}

// find reads subject's record at the addresses ids (newest first). A
// record only ever moves to a newer address, so after a miss everywhere the
// newest address is read again: a record moved while the older ones were
// read is found there. It returns the record, or ErrTombstoned or
// ErrNotFound, with the ID it concerns (the newest for ErrNotFound).
func (r *keyring) find(ctx context.Context, ids []string) (keystore.Record, string, error) {
	for _, id := range ids {
		rec, err := r.store.Get(ctx, id)
		if !errors.Is(err, keystore.ErrNotFound) {
			return rec, id, err
		}
	}
	if len(ids) == 1 {
		return keystore.Record{}, ids[0], keystore.ErrNotFound
	}
	rec, err := r.store.Get(ctx, ids[0])
	return rec, ids[0], err
}

// addresses returns subject's live addresses, newest first.
func (r *keyring) addresses(subject string) ([]string, error) {
	return r.addr.Load().ids(subject, false)
}

// locate returns the ID of subject's record, or of its tombstone: the
// address it lives at (the newest if none).
func (r *keyring) locate(ctx context.Context, subject string) (string, error) {
	ids, err := r.addresses(subject)
	if err != nil {
		return "", err
	}
	if len(ids) == 1 {
		return ids[0], nil
	}
	_, id, err := r.find(ctx, ids)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) && !errors.Is(err, keystore.ErrTombstoned) {
		return "", fmt.Errorf("pii: read subject key: %w", err)
	}
	return id, nil
}
