package subjectkey

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Blind-index root keys.
//
// A global bundle holds the root keys of the global blind indexes in its
// INDEX part ('i'): one 32-byte random key per version, versions 1, 2, 3
// ... in increasing order. They are generated on their own (crypto/rand),
// never derived from or shared with the PRF (addressing), TOKEN or ADDR
// keys. RotateIndexKey adds the next version; RetireIndexKey removes an
// old one (never the newest, so a version number is never issued twice).
// A subject's own index root (for subject-scoped indexes) is not stored:
// it is a PRF output of the subject's bundle (SubjectIndexRoot), so it is
// destroyed with the bundle.
//
// The INDEX part is not a Tink keyset: it is COUNT × (VERSION (4 bytes,
// big-endian) || KEY (32 bytes)), at least one entry, versions at least 1
// and strictly increasing. Anything else is ErrCorrupt.

// IndexKeySize is the size of an index root key, in bytes.
const IndexKeySize = 32

const indexEntrySize = 4 + IndexKeySize

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
	Key     []byte // IndexKeySize bytes; do not modify
}

// String never reveals key material.
func (k IndexKey) String() string {
	return fmt.Sprintf("subjectkey.IndexKey(v%d, [redacted])", k.Version)
}

// GoString never reveals key material.
func (k IndexKey) GoString() string { return k.String() }

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

// RotateIndexKey adds a fresh index root key with the next version
// (version 1 for a bundle without an INDEX part) and returns the version.
func (b *Bundle) RotateIndexKey() (uint32, error) {
	next := uint32(1)
	if n := len(b.index); n > 0 {
		last := b.index[n-1].Version
		if last == ^uint32(0) {
			return 0, fmt.Errorf("%w: no version left", ErrIndexKey)
		}
		next = last + 1
	}
	key := make([]byte, IndexKeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, fmt.Errorf("subjectkey: generate index key: %w", err)
	}
	b.index = append(b.index, IndexKey{Version: next, Key: key})
	return next, nil
}

// RetireIndexKey removes index key version v. The newest version cannot be
// retired, nor a version the bundle does not hold (errors wrap
// ErrIndexKey).
func (b *Bundle) RetireIndexKey(v uint32) error {
	i := slices.IndexFunc(b.index, func(k IndexKey) bool { return k.Version == v })
	switch {
	case i < 0:
		return fmt.Errorf("%w: no version %d", ErrIndexKey, v)
	case i == len(b.index)-1:
		return fmt.Errorf("%w: version %d is the newest and cannot be retired", ErrIndexKey, v)
	}
	Zero(b.index[i].Key)
	b.index = slices.Delete(b.index, i, i+1)
	return nil
}

// appendIndexPart appends the INDEX part's payload.
func appendIndexPart(dst []byte, keys []IndexKey) []byte {
	for _, k := range keys {
		dst = binary.BigEndian.AppendUint32(dst, k.Version)
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
	for ; len(p) > 0; p = p[indexEntrySize:] {
		v := binary.BigEndian.Uint32(p)
		if v <= last { // also refuses version 0
			return nil, fmt.Errorf("%w: index key versions out of order", ErrCorrupt)
		}
		last = v
		keys = append(keys, IndexKey{Version: v, Key: slices.Clone(p[4:indexEntrySize])})
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
