// Package subjectkey holds the keys of one data subject (or the global keys)
// and their serialized form, which the KEK wraps.
//
// A bundle is three Tink keysets:
//
//	AEAD   AES-256-GCM   `pii:"encrypt"` fields; rotation adds a new primary,
//	                     pruning (PruneAEAD) removes retired keys
//	DAEAD  AES-SIV       `pii:"encrypt,deterministic"` fields; never rotated,
//	                     so equal values keep giving equal ciphertexts
//	PRF    HMAC-SHA256   derived keys: the subject's FF1 token key; for the
//	                     global bundle, the addressing key (record IDs) and
//	                     the tombstone MAC key; never rotated
//	TOKEN  HMAC-SHA256   global bundles only (those made before it was
//	                     introduced lack it): the
//	                     global FF1 token key, independent of the addressing
//	                     key; rotatable (RotateTokenKey)
//	ADDR   HMAC-SHA256   global bundles whose addressing key was rotated
//	                     (RotateAddressKey): the chain of re-addressing
//	                     keys, one per generation, in keyset order; with a
//	                     GEN part, the oldest generation that may still
//	                     hold records (see address.go)
//	INDEX  raw keys      global bundles: the root keys of the global blind
//	                     indexes, one per version, each with the time from
//	                     which it is written (see index.go); global
//	                     bundles made before it was introduced gain it on
//	                     first use (RotateIndexKey)
//	VAULT  raw key       global bundles: the global vault key, which keys
//	                     the convergent index of scope=global vaulted
//	                     tokens (see vault.go); global bundles made before
//	                     it was introduced gain it on first use
//	                     (AddVaultKey)
//
// A global bundle without a TOKEN keyset (made by an older release) derives
// its token key from PRF, as before; RotateTokenKey adds one (see the pii
// package for re-tokenizing).
//
// # Serialized form (before wrapping)
//
//	"FCKB" VERSION(1 byte = 1) COUNT(1 byte)
//	COUNT times: PURPOSE(1 byte) LEN(4 bytes, big-endian) TINK-BINARY-KEYSET
//
// PURPOSE is 'a' (AEAD), 'd' (DAEAD), 'p' (PRF), 't' (TOKEN), 'r' (ADDR),
// 'g' (GEN), 'i' (INDEX) or 'v' (VAULT); each appears at most once, 'a', 'd' and 'p'
// must appear, and 'g' appears exactly when 'r' does. GEN is not a keyset:
// its 4 bytes are the oldest live generation, big-endian, at most the
// number of ADDR keys. INDEX is not a keyset either: COUNT × (VERSION
// (4 bytes, big-endian) || ACTIVE_AT (8 bytes, big-endian, Unix seconds,
// ≥ 0) || 32 key bytes), COUNT ≥ 1, versions ≥ 1 and strictly increasing,
// ACTIVE_AT non-decreasing. VAULT is not a keyset either: its payload is
// the 32 key bytes. (Releases before TOKEN reject a bundle with 't' as corrupt, and
// releases before ADDR one with 'r', releases before INDEX one with 'i', releases before VAULT one with 'v': a store whose global bundle has one
// cannot be opened by them, which is what keeps a process that does not
// know the new addresses from writing under the old ones.)
//
// The serialized form holds plaintext key material. It exists only between
// generation or unwrapping and the next step, and is zeroed after use on a
// best-effort basis (Tink and the garbage collector may keep copies).
package subjectkey

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// Keys are the primitives of one bundle, ready to use. Safe for concurrent
// use. They never print.
type Keys struct {
	AEAD tink.AEAD
	// DAEAD is built on first use (most subjects never use it): its
	// keyset is checked when the Keys are made.
	DAEAD  tink.DeterministicAEAD
	PRF    *prf.Set
	KeyIDs []uint32 // ids of every key in the bundle (not secret)

	tokenPRF   *prf.Set // the TOKEN keyset, if any; else PRF makes tokens
	tokenKeyID uint32   // the token key pinned by WithTokenKey; 0: primary

	addrChain []prf.PRF // re-addressing keys, generation 1 first (global bundles)
	addrLive  int       // oldest generation that may hold records

	tokenOnce sync.Once
	tokenizer *tokenize.Tokenizer
	tokenErr  error

	indexState // blind-index roots and derived keys (index.go)

	vaultKey []byte // the global vault key, if any (vault.go)
}

// Tokenizer returns the format-preserving tokenizer of this bundle. Its FF1
// key is derived from the bundle's PRF key, so destroying the bundle
// destroys the token key too. It is built on first use and kept.
func (k *Keys) Tokenizer() (*tokenize.Tokenizer, error) {
	k.tokenOnce.Do(func() {
		set := k.PRF
		if k.tokenPRF != nil {
			set = k.tokenPRF
		}
		if _, legacy := k.PRF.PRFs[k.tokenKeyID]; legacy && k.tokenKeyID != 0 {
			set = k.PRF // the token key of a bundle from before TOKEN
		}
		var raw []byte
		var err error
		if k.tokenKeyID == 0 {
			raw, err = set.ComputePrimaryPRF([]byte("fieldcrypt/token-key/v1"), 32)
		} else if f, ok := set.PRFs[k.tokenKeyID]; ok {
			raw, err = f.ComputePRF([]byte("fieldcrypt/token-key/v1"), 32)
		} else {
			err = fmt.Errorf("no token key %d", k.tokenKeyID)
		}
		if err != nil {
			k.tokenErr = fmt.Errorf("subjectkey: derive token key: %w", err)
			return
		}
		key, err := tokenize.NewKey(raw)
		Zero(raw)
		if err != nil {
			k.tokenErr = err
			return
		}
		k.tokenizer, k.tokenErr = tokenize.NewTokenizer(key)
	})
	return k.tokenizer, k.tokenErr
}

// TokenKeyIDs lists the ids of the keys that can make tokens, and the one
// Tokenizer uses unless pinned (the primary). For a bundle without a TOKEN
// keyset they are the PRF's.
func (k *Keys) TokenKeyIDs() (ids []uint32, primary uint32) {
	set := k.PRF
	if k.tokenPRF != nil {
		set = k.tokenPRF
	}
	for id := range set.PRFs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, set.PrimaryID
}

// WithTokenKey returns keys whose Tokenizer uses the token key id instead
// of the primary (to read tokens made before a token key rotation). id may
// also be the PRF's key (the token key of a bundle from before TOKEN was
// added). It fails if there is no such key.
func (k *Keys) WithTokenKey(id uint32) (*Keys, error) {
	ids, _ := k.TokenKeyIDs()
	if _, legacy := k.PRF.PRFs[id]; !slices.Contains(ids, id) && !legacy {
		return nil, fmt.Errorf("subjectkey: no token key %d", id)
	}
	return &Keys{AEAD: k.AEAD, DAEAD: k.DAEAD, PRF: k.PRF, KeyIDs: k.KeyIDs, tokenPRF: k.tokenPRF, tokenKeyID: id,
		addrChain: k.addrChain, addrLive: k.addrLive, indexState: indexState{indexKeys: k.indexKeys}, vaultKey: k.vaultKey}, nil
}

// String never reveals key material.
func (k *Keys) String() string { return "subjectkey.Keys([redacted])" }

// GoString never reveals key material.
func (k *Keys) GoString() string { return k.String() }

// Bundle is the set of keysets of one subject, as handles.
type Bundle struct {
	aead, daead, prf *keyset.Handle
	token            *keyset.Handle // optional (global bundles)
	addr             *keyset.Handle // optional (global bundles): the re-addressing chain
	addrLive         uint32         // with addr: the oldest live generation
	index            []IndexKey     // optional (global bundles): index root keys, oldest first
	vault            []byte         // optional (global bundles): the vault key (vault.go)
}

// ErrCorrupt reports a serialized bundle that cannot be parsed. Since the
// KEK authenticates what it unwraps, this means a bug or a bundle written by
// a newer release, never tampering.
var ErrCorrupt = errors.New("subjectkey: corrupt key bundle")

const (
	magic   = "FCKB"
	version = 1
)

// New generates a bundle of fresh random keys.
func New() (*Bundle, error) {
	a, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("subjectkey: generate AEAD key: %w", err)
	}
	d, err := keyset.NewHandle(daead.AESSIVKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("subjectkey: generate deterministic key: %w", err)
	}
	p, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("subjectkey: generate PRF key: %w", err)
	}
	return &Bundle{aead: a, daead: d, prf: p}, nil
}

// NewGlobal generates a global bundle: New's keysets, a TOKEN keyset for
// global tokens, independent of the PRF that addresses records, and
// version 1 of the index root key, and a vault key.
func NewGlobal() (*Bundle, error) {
	b, err := New()
	if err != nil {
		return nil, err
	}
	if _, err := b.RotateTokenKey(); err != nil {
		return nil, err
	}
	if _, err := b.RotateIndexKey(0); err != nil {
		return nil, err
	}
	if err := b.AddVaultKey(); err != nil {
		return nil, err
	}
	return b, nil
}

// HasTokenKey reports whether the bundle has a TOKEN keyset.
func (b *Bundle) HasTokenKey() bool { return b.token != nil }

// RotateTokenKey adds a new token key and makes it the primary, creating
// the TOKEN keyset if the bundle has none (which moves tokens off the PRF).
// Tokens made with the previous key no longer detokenize with the new
// primary: they must be re-tokenized (Keys.WithTokenKey reads them). It
// returns the new key's id.
func (b *Bundle) RotateTokenKey() (uint32, error) {
	if b.token == nil {
		h, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
		if err != nil {
			return 0, fmt.Errorf("subjectkey: generate token key: %w", err)
		}
		b.token = h
		return h.KeysetInfo().GetPrimaryKeyId(), nil
	}
	m := keyset.NewManagerFromHandle(b.token)
	id, err := m.Add(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return 0, fmt.Errorf("subjectkey: rotate token key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return 0, fmt.Errorf("subjectkey: rotate token key: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return 0, fmt.Errorf("subjectkey: rotate token key: %w", err)
	}
	b.token = h
	return id, nil
}

// Marshal serializes the bundle. The result holds plaintext keys: wrap it
// and zero it (Zero) at once.
func (b *Bundle) Marshal() ([]byte, error) {
	var out bytes.Buffer
	parts := []struct {
		purpose byte
		h       *keyset.Handle
	}{{'a', b.aead}, {'d', b.daead}, {'p', b.prf}}
	if b.token != nil {
		parts = append(parts, struct {
			purpose byte
			h       *keyset.Handle
		}{'t', b.token})
	}
	if b.addr != nil {
		parts = append(parts, struct {
			purpose byte
			h       *keyset.Handle
		}{'r', b.addr})
	}
	out.WriteString(magic)
	out.WriteByte(version)
	count := len(parts)
	if b.addr != nil {
		count++ // GEN
	}
	if len(b.index) > 0 {
		count++ // INDEX
	}
	if b.vault != nil {
		count++ // VAULT
	}
	out.WriteByte(byte(count))
	for _, part := range parts {
		var ks bytes.Buffer
		if err := insecurecleartextkeyset.Write(part.h, keyset.NewBinaryWriter(&ks)); err != nil {
			return nil, fmt.Errorf("subjectkey: serialize: %w", err)
		}
		out.WriteByte(part.purpose)
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(ks.Len()))
		out.Write(n[:])
		out.Write(ks.Bytes())
		Zero(ks.Bytes())
	}
	if len(b.index) > 0 {
		out.WriteByte('i')
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b.index)*indexEntrySize)))
		part := appendIndexPart(make([]byte, 0, len(b.index)*indexEntrySize), b.index)
		out.Write(part)
		Zero(part)
	}
	if b.vault != nil {
		out.WriteByte('v')
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b.vault))))
		out.Write(b.vault)
	}
	if b.addr != nil {
		out.WriteByte('g')
		out.Write([]byte{0, 0, 0, 4})
		out.Write(binary.BigEndian.AppendUint32(nil, b.addrLive))
	}
	return out.Bytes(), nil
}

// Parse deserializes a bundle produced by Marshal.
func Parse(data []byte) (*Bundle, error) {
	if len(data) < len(magic)+2 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	if data[len(magic)] != version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, data[len(magic)])
	}
	count := int(data[len(magic)+1])
	rest := data[len(magic)+2:]
	b := &Bundle{}
	var gen []byte
	for range count {
		if len(rest) < 5 {
			return nil, fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		purpose := rest[0]
		n := binary.BigEndian.Uint32(rest[1:5])
		rest = rest[5:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		if purpose == 'g' {
			if gen != nil || n != 4 {
				return nil, fmt.Errorf("%w: bad generation part", ErrCorrupt)
			}
			gen, rest = rest[:4], rest[4:]
			continue
		}
		if purpose == 'v' {
			if b.vault != nil {
				return nil, fmt.Errorf("%w: purpose 'v' twice", ErrCorrupt)
			}
			key, err := parseVaultPart(rest[:n])
			if err != nil {
				return nil, err
			}
			b.vault, rest = key, rest[n:]
			continue
		}
		if purpose == 'i' {
			if b.index != nil {
				return nil, fmt.Errorf("%w: purpose 'i' twice", ErrCorrupt)
			}
			keys, err := parseIndexPart(rest[:n])
			if err != nil {
				return nil, err
			}
			b.index, rest = keys, rest[n:]
			continue
		}
		h, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(rest[:n])))
		if err != nil {
			return nil, fmt.Errorf("%w: keyset: %v", ErrCorrupt, err)
		}
		rest = rest[n:]
		var slot **keyset.Handle
		switch purpose {
		case 'a':
			slot = &b.aead
		case 'd':
			slot = &b.daead
		case 'p':
			slot = &b.prf
		case 't':
			slot = &b.token
		case 'r':
			slot = &b.addr
		default:
			return nil, fmt.Errorf("%w: unknown purpose %q", ErrCorrupt, purpose)
		}
		if *slot != nil {
			return nil, fmt.Errorf("%w: purpose %q twice", ErrCorrupt, purpose)
		}
		*slot = h
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	if b.aead == nil || b.daead == nil || b.prf == nil {
		return nil, fmt.Errorf("%w: missing keyset", ErrCorrupt)
	}
	if (gen == nil) != (b.addr == nil) {
		return nil, fmt.Errorf("%w: addressing chain without its generation, or the reverse", ErrCorrupt)
	}
	if b.addr != nil {
		b.addrLive = binary.BigEndian.Uint32(gen)
		if int64(b.addrLive) > int64(len(b.addr.KeysetInfo().GetKeyInfo())) {
			return nil, fmt.Errorf("%w: live generation past the chain", ErrCorrupt)
		}
	}
	return b, nil
}

// Keys builds the primitives.
func (b *Bundle) Keys() (*Keys, error) {
	a, err := aead.New(b.aead)
	if err != nil {
		return nil, fmt.Errorf("subjectkey: AEAD keyset: %w", err)
	}
	// The deterministic AEAD is built on first use (lazy.go); its keyset
	// is checked now, so that a bundle that parses but cannot be used
	// fails here, as before.
	if err := checkDAEAD(b.daead); err != nil {
		return nil, err
	}
	d := &lazyDAEAD{h: b.daead}
	p, err := prf.NewPRFSet(b.prf)
	if err != nil {
		return nil, fmt.Errorf("subjectkey: PRF keyset: %w", err)
	}
	k := &Keys{AEAD: a, DAEAD: d, PRF: p, KeyIDs: b.KeyIDs()}
	for _, ik := range b.index {
		k.indexKeys = append(k.indexKeys, IndexKey{Version: ik.Version, ActiveAt: ik.ActiveAt, Key: slices.Clone(ik.Key)})
	}
	if b.vault != nil {
		k.vaultKey = slices.Clone(b.vault)
	}
	if b.token != nil {
		if k.tokenPRF, err = prf.NewPRFSet(b.token); err != nil {
			return nil, fmt.Errorf("subjectkey: token keyset: %w", err)
		}
	}
	if b.addr != nil {
		if k.addrChain, err = chainOf(b.addr); err != nil {
			return nil, err
		}
		k.addrLive = int(b.addrLive)
	}
	return k, nil
}

// KeyIDs lists the ids of every key in the bundle.
func (b *Bundle) KeyIDs() []uint32 {
	var ids []uint32
	for _, h := range []*keyset.Handle{b.aead, b.daead, b.prf, b.token, b.addr} {
		if h == nil {
			continue
		}
		// Entry by entry: KeysetInfo would serialize every key to list them.
		for i := range h.Len() {
			e, err := h.Entry(i)
			if err != nil {
				panic(err) // unreachable: i < Len
			}
			ids = append(ids, e.KeyID())
		}
	}
	return ids
}

// RotateAEAD adds a new AES-256-GCM key and makes it the primary. Old keys
// stay, so ciphertexts they made keep opening. It returns the new key's id.
func (b *Bundle) RotateAEAD() (uint32, error) {
	m := keyset.NewManagerFromHandle(b.aead)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return 0, fmt.Errorf("subjectkey: rotate: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return 0, fmt.Errorf("subjectkey: rotate: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return 0, fmt.Errorf("subjectkey: rotate: %w", err)
	}
	b.aead = h
	return id, nil
}

// AEADKeyIDs lists the ids of the AES-256-GCM keys, oldest first (the
// last rotation's key, the primary, is normally last).
func (b *Bundle) AEADKeyIDs() []uint32 {
	var ids []uint32
	for _, k := range b.aead.KeysetInfo().GetKeyInfo() {
		ids = append(ids, k.GetKeyId())
	}
	return ids
}

// PruneAEAD removes retired AES-256-GCM keys, keeping the primary and the
// newest others, keep keys in all (keep >= 1). It returns the ids it
// removed. Whatever was sealed under a removed key can no longer be opened:
// re-seal it first. The deterministic and PRF keys are never pruned (they
// are never rotated).
func (b *Bundle) PruneAEAD(keep int) ([]uint32, error) {
	if keep < 1 {
		return nil, fmt.Errorf("subjectkey: prune: must keep at least the primary key")
	}
	info := b.aead.KeysetInfo()
	primary := info.GetPrimaryKeyId()
	keys := info.GetKeyInfo()
	m := keyset.NewManagerFromHandle(b.aead)
	kept := 1 // the primary
	var removed []uint32
	for i := len(keys) - 1; i >= 0; i-- {
		id := keys[i].GetKeyId()
		if id == primary {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		if err := m.Delete(id); err != nil {
			return nil, fmt.Errorf("subjectkey: prune: %w", err)
		}
		removed = append(removed, id)
	}
	if len(removed) == 0 {
		return nil, nil
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("subjectkey: prune: %w", err)
	}
	b.aead = h
	return removed, nil
}

// WrapAssociatedData is the associated data a KEK binds to the wrapped
// bundle stored under the given record ID, so that a wrapped bundle copied
// to another record fails to unwrap.
func WrapAssociatedData(recordID string) []byte {
	const label = "fieldcrypt/keyset/v1"
	ad := make([]byte, 0, len(label)+4+len(recordID))
	ad = append(ad, label...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(recordID)))
	return append(ad, recordID...)
}

// Zero overwrites b with zeros.
func Zero(b []byte) { clear(b) }
