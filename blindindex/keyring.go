package blindindex

import (
	"slices"
)

// Keyring holds the keys of one index for every key version still in use,
// for rotation without downtime: Term writes with the newest version,
// Terms gives one term per version for a lookup (WHERE idx = ANY($1)),
// and a row whose term has an older version is re-indexed by writing
// Term again. A caller that activates versions later than it learns of
// them (as fieldcrypt's pii does, so that every process asks for a version
// before anyone writes it) writes with Key(version).Term instead. A
// Keyring is safe for concurrent use.
type Keyring struct {
	keys []*Key // newest first
}

// NewKeyring derives the keys of one index for each version in roots
// (version → root key; at least one). Errors are those of NewKey, or
// ErrUnknownVersion for an empty map.
func NewKeyring(name Name, d Definition, roots map[uint32]RootKey) (*Keyring, error) {
	if len(roots) == 0 {
		return nil, ErrUnknownVersion
	}
	versions := make([]uint32, 0, len(roots))
	for v := range roots {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	slices.Reverse(versions)
	r := &Keyring{keys: make([]*Key, 0, len(versions))}
	for _, v := range versions {
		k, err := NewKey(roots[v], v, name, d)
		if err != nil {
			return nil, err
		}
		r.keys = append(r.keys, k)
	}
	return r, nil
}

// Newest returns the key that writes: the highest version.
func (r *Keyring) Newest() *Key { return r.keys[0] }

// Key returns the key of a version, or ErrUnknownVersion.
func (r *Keyring) Key(version uint32) (*Key, error) {
	for _, k := range r.keys {
		if k.version == version {
			return k, nil
		}
	}
	return nil, ErrUnknownVersion
}

// Versions returns the versions held, newest first.
func (r *Keyring) Versions() []uint32 {
	vs := make([]uint32, len(r.keys))
	for i, k := range r.keys {
		vs[i] = k.version
	}
	return vs
}

// Definition returns the index definition (a copy).
func (r *Keyring) Definition() Definition { return r.keys[0].Definition() }

// Term returns the term of values with the newest key.
func (r *Keyring) Term(values ...string) (Term, error) { return r.keys[0].Term(values...) }

// Terms returns the term of values under every version, newest first:
// what a lookup asks for. The values are transformed once; a slow index
// costs one Argon2id per version.
func (r *Keyring) Terms(values ...string) ([]Term, error) {
	first := r.keys[0]
	st := first.states.Get().(*state)
	defer first.states.Put(st)
	msg, err := first.def.encode(st.buf[:0], values)
	st.buf = msg
	if err != nil {
		return nil, err
	}
	terms := make([]Term, len(r.keys))
	terms[0] = first.hash(st, msg)
	for i, k := range r.keys[1:] {
		sk := k.states.Get().(*state)
		terms[i+1] = k.hash(sk, msg)
		k.states.Put(sk)
	}
	return terms, nil
}
