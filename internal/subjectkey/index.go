package subjectkey

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Blind-index root keys.
//
// A global bundle holds the root keys of the global blind indexes in its
// INDEX part ('i'): one 32-byte random key per version, versions 1, 2, 3
// ... in increasing order, each with its activation time. They are
// generated on their own (crypto/rand), never derived from or shared with
// the PRF (addressing), TOKEN or ADDR keys. RotateIndexKey adds the next
// version; RetireIndexKey removes an old one (never the newest, so a
// version number is never issued twice, nor the one written at the time of
// retirement). A subject's own index root (for subject-scoped indexes) is
// not stored: it is a PRF output of the subject's bundle
// (SubjectIndexRoot), so it is destroyed with the bundle.
//
// Activation. Every live version is asked for by lookups from the moment a
// process reads the bundle that holds it; a version is written (by Seal
// and re-indexing) only from its activation time on: the version written
// at time t is the newest one whose ACTIVE_AT ≤ t (WritingIndexKey). A
// rotation sets ACTIVE_AT far enough ahead that every process sharing the
// bundle has read it before anyone writes the new version, so that no
// lookup misses a row during a rotation; version 1 of a new or upgraded
// bundle has ACTIVE_AT 0, active from the start.
//
// The INDEX part is not a Tink keyset: it is COUNT × (VERSION (4 bytes,
// big-endian) || ACTIVE_AT (8 bytes, big-endian, Unix seconds, ≥ 0) ||
// KEY (32 bytes)), COUNT ≥ 1, versions ≥ 1 and strictly increasing,
// activation times non-decreasing with the version. Anything else is
// ErrCorrupt.

// IndexKeySize is the size of an index root key, in bytes.
const IndexKeySize = 32

const indexEntrySize = 4 + 8 + IndexKeySize

// subjectIndexLabel is the PRF input of a subject's index root, apart from
// the PRF's other inputs ("fieldcrypt/token-key/v1",
// "fieldcrypt/subject/v1\x00…", "fieldcrypt/tokenmac/v1\x00…", the
// tombstone MAC label).
const subjectIndexLabel = "fieldcrypt/index-root/v1"

// ErrIndexKey is wrapped by the errors of RotateIndexKey and
// RetireIndexKey about versions.
var ErrIndexKey = errors.New("subjectkey: index key version")

// IndexKey is one version of the global index root key.
type IndexKey struct {
	Version uint32
	// ActiveAt is when (Unix seconds) the version starts being written;
	// 0: from the start. Lookups ask for it before then.
	ActiveAt int64
	Key      []byte // IndexKeySize bytes; do not modify
}

// String never reveals key material.
func (k IndexKey) String() string {
	return fmt.Sprintf("subjectkey.IndexKey(v%d, active at %d, [redacted])", k.Version, k.ActiveAt)
}

// GoString never reveals key material.
func (k IndexKey) GoString() string { return k.String() }

// WritingIndexKey returns the version of keys (oldest first, as IndexKeys
// and the INDEX part hold them) that is written at now (Unix seconds): the
// newest whose ActiveAt ≤ now. If none is active yet (a clock far behind
// the one that rotated, or only pending versions left), it is the oldest,
// the one the most processes already ask for. keys must not be empty.
func WritingIndexKey(keys []IndexKey, now int64) IndexKey {
	for i := len(keys) - 1; i > 0; i-- {
		if keys[i].ActiveAt <= now {
			return keys[i]
		}
	}
	return keys[0]
}

// HasIndexKeys reports whether the bundle has an INDEX part.
func (b *Bundle) HasIndexKeys() bool { return len(b.index) > 0 }

// IndexKeyVersions lists the index key versions of the bundle, oldest
// first (none without an INDEX part).
func (b *Bundle) IndexKeyVersions() []uint32 {
	vs := make([]uint32, len(b.index))
	for i, k := range b.index {
		vs[i] = k.Version
	}
	return vs
}

// IndexKeyActivation returns the activation time (Unix seconds) of index
// key version v, and whether the bundle holds it.
func (b *Bundle) IndexKeyActivation(v uint32) (int64, bool) {
	for _, k := range b.index {
		if k.Version == v {
			return k.ActiveAt, true
		}
	}
	return 0, false
}

// RotateIndexKey adds a fresh index root key with the next version and
// returns the version. The new version is written from activeAt (Unix
// seconds, ≥ 0) on, or from the previous version's activation if that is
// later (activation times never decrease with the version). A bundle
// without an INDEX part gets version 1, active from the start (activeAt is
// ignored): nothing can have been written with an older one.
func (b *Bundle) RotateIndexKey(activeAt int64) (uint32, error) {
	if activeAt < 0 {
		return 0, fmt.Errorf("%w: negative activation time", ErrIndexKey)
	}
	next := uint32(1)
	if n := len(b.index); n > 0 {
		last := b.index[n-1]
		if last.Version == ^uint32(0) {
			return 0, fmt.Errorf("%w: no version left", ErrIndexKey)
		}
		next = last.Version + 1
		activeAt = max(activeAt, last.ActiveAt)
	} else {
		activeAt = 0
	}
	key := make([]byte, IndexKeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, fmt.Errorf("subjectkey: generate index key: %w", err)
	}
	b.index = append(b.index, IndexKey{Version: next, ActiveAt: activeAt, Key: key})
	return next, nil
}

// RetireIndexKey removes index key version v. It refuses (errors wrap
// ErrIndexKey) a version the bundle does not hold, the newest version, and
// the version written at now (Unix seconds; see WritingIndexKey).
func (b *Bundle) RetireIndexKey(v uint32, now int64) error {
	i := slices.IndexFunc(b.index, func(k IndexKey) bool { return k.Version == v })
	switch {
	case i < 0:
		return fmt.Errorf("%w: no version %d", ErrIndexKey, v)
	case i == len(b.index)-1:
		return fmt.Errorf("%w: version %d is the newest and cannot be retired", ErrIndexKey, v)
	case WritingIndexKey(b.index, now).Version == v:
		return fmt.Errorf("%w: version %d is still the one written (the newer ones are not active yet)", ErrIndexKey, v)
	}
	Zero(b.index[i].Key)
	b.index = slices.Delete(b.index, i, i+1)
	return nil
}

// appendIndexPart appends the INDEX part's payload.
func appendIndexPart(dst []byte, keys []IndexKey) []byte {
	for _, k := range keys {
		dst = binary.BigEndian.AppendUint32(dst, k.Version)
		dst = binary.BigEndian.AppendUint64(dst, uint64(k.ActiveAt))
		dst = append(dst, k.Key...)
	}
	return dst
}

// parseIndexPart parses the INDEX part's payload strictly.
func parseIndexPart(p []byte) ([]IndexKey, error) {
	if len(p) == 0 || len(p)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: bad index key part", ErrCorrupt)
	}
	keys := make([]IndexKey, 0, len(p)/indexEntrySize)
	var last uint32
	var lastActive uint64
	for ; len(p) > 0; p = p[indexEntrySize:] {
		v := binary.BigEndian.Uint32(p)
		if v <= last { // also refuses version 0
			return nil, fmt.Errorf("%w: index key versions out of order", ErrCorrupt)
		}
		at := binary.BigEndian.Uint64(p[4:])
		if at > math.MaxInt64 {
			return nil, fmt.Errorf("%w: negative index key activation time", ErrCorrupt)
		}
		if at < lastActive {
			return nil, fmt.Errorf("%w: index key activation times out of order", ErrCorrupt)
		}
		last, lastActive = v, at
		keys = append(keys, IndexKey{Version: v, ActiveAt: int64(at), Key: slices.Clone(p[12:indexEntrySize])})
	}
	return keys, nil
}

// IndexKeys returns the global index root keys, oldest first (none for a
// bundle without an INDEX part: a subject bundle, or a global bundle made
// before index keys existed).
func (k *Keys) IndexKeys() []IndexKey { return k.indexKeys }

// SubjectIndexRoot returns the root key of the bundle's subject-scoped
// indexes: PRF("fieldcrypt/index-root/v1"), 32 bytes. It is computed once
// and kept; it is gone with the bundle.
func (k *Keys) SubjectIndexRoot() ([]byte, error) {
	k.subjectIndexOnce.Do(func() {
		k.subjectIndex, k.subjectIndexErr = k.PRF.ComputePrimaryPRF([]byte(subjectIndexLabel), IndexKeySize)
		if k.subjectIndexErr != nil {
			k.subjectIndexErr = fmt.Errorf("subjectkey: derive index root: %w", k.subjectIndexErr)
		}
	})
	return k.subjectIndex, k.subjectIndexErr
}

// Memo returns the value kept under key, building it with build on first
// use. It keeps what is derived from these keys (prepared index keys) for
// as long as the keys are cached, and no longer.
func (k *Keys) Memo(key any, build func() (any, error)) (any, error) {
	if v, ok := k.memo.Load(key); ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	actual, _ := k.memo.LoadOrStore(key, v)
	return actual, nil
}

// indexState is the part of Keys about blind indexes.
type indexState struct {
	indexKeys []IndexKey

	subjectIndexOnce sync.Once
	subjectIndex     []byte
	subjectIndexErr  error

	memo sync.Map
}
