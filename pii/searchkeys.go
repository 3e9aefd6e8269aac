package pii

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// Index keys.
//
// The global index root keys are a part of the global keys of their own
// (versions 1, 2, 3 ...; internal/subjectkey), random, never derived from
// or shared with the addressing, token or record keys. A store whose global
// keys predate them gains version 1 on first use (the first Seal of a type
// with a global index, or the first query). The root key of scope=subject
// indexes is a PRF output of the subject's own keys, one version, destroyed
// by Forget.
//
// Each Protector keeps a snapshot of the live versions (indexRoots) and,
// in it, one prepared blindindex.Keyring per (index, scope), built on first
// use: a warm Seal costs one Term call per index. The snapshot is replaced
// when the global keys are read again: by RotateIndexKey and
// RetireIndexKey in this process; by the refresh that key misses, Forget
// and Readmit already make; and on the first index use after the key
// cache's TTL (WithKeyCache) has passed since they were last read.
//
// Activation. Lookups ask for every live version; Seal and Reindex write
// the newest version whose activation time has come (by the cache's
// clock). RotateIndexKey sets the new version's activation time one
// activation delay ahead (by default this Protector's key cache TTL plus
// IndexKeyClockSkew): every other process re-reads the global keys within
// one TTL of the rotation, so by the time anyone writes the new version
// every process already asks for it, and no lookup misses a row.

// ErrUnknownIndex: a query named an index the type does not have.
var ErrUnknownIndex = errors.New("pii: no such index")

// ErrIndexScope: IndexTerms was asked for a scope=subject index (use
// SubjectIndexTerms), or SubjectIndexTerms for a global one.
var ErrIndexScope = errors.New("pii: index has the other scope")

// ErrIndexKeyVersion: RetireIndexKey was given the newest version, the
// version Seal writes now, or one the global keys do not hold.
var ErrIndexKeyVersion = errors.New("pii: index key version cannot be retired")

// ErrIndexKeyNotActive: ReindexAll was called while the newest index key
// version is not written yet (its activation time is ahead). The error is
// an *IndexKeyNotActiveError, which says when to run it.
var ErrIndexKeyNotActive = errors.New("pii: index key version not active yet")

// IndexKeyClockSkew is the margin the default activation delay of a
// rotated index key adds to the key cache TTL: for clocks that differ
// between processes, the cache's coarse clock (100 ms), and a lookup whose
// terms were computed just before its process re-read the global keys and
// whose query reaches the database a little later.
const IndexKeyClockSkew = 30 * time.Second

// IndexKeyNotActiveError reports that the newest index key version is not
// written before ActiveAt: re-indexing now would write the old version
// again. It wraps ErrIndexKeyNotActive.
type IndexKeyNotActiveError struct {
	Version  uint32
	ActiveAt time.Time
}

func (e *IndexKeyNotActiveError) Error() string {
	return fmt.Sprintf("pii: index key version %d is written from %s on: re-index after that",
		e.Version, e.ActiveAt.UTC().Format(time.RFC3339))
}

func (e *IndexKeyNotActiveError) Unwrap() error { return ErrIndexKeyNotActive }

// IndexKeyInfo describes one live version of the global index root key.
type IndexKeyInfo struct {
	Version uint32
	// ActiveAt is when Seal starts writing the version (the zero time:
	// from the start). Lookups ask for it as soon as the process knows it.
	ActiveAt time.Time
	// Writing: this is the version Seal writes now, the newest active one.
	Writing bool
}

// IndexError reports a query that names an unknown index, uses an index of
// the other scope, or gives the wrong number of values (Err wraps
// blindindex.ErrArity) or a value the index's transform refuses (Err wraps
// blindindex.ErrInvalidValue). It never holds a value searched for.
type IndexError struct {
	Type  string // the struct type's name
	Index string // the index name asked for
	Err   error
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("pii: index %q of %s: %v", e.Index, e.Type, e.Err)
}

func (e *IndexError) Unwrap() error { return e.Err }

// indexRoots is a snapshot of the live global index root keys.
type indexRoots struct {
	roots    map[uint32]blindindex.RootKey
	versions []uint32              // newest first
	live     []subjectkey.IndexKey // oldest first, versions and activation times only (no Key)
	rings    sync.Map              // ringKey -> *blindindex.Keyring
}

// writing returns the version Seal writes at now: the newest whose
// activation time has come (subjectkey.WritingIndexKey).
func (ir *indexRoots) writing(now time.Time) uint32 {
	return subjectkey.WritingIndexKey(ir.live, now.Unix()).Version
}

// activeAt returns the activation time of version v (zero: from the
// start).
func (ir *indexRoots) activeAt(v uint32) time.Time {
	for _, k := range ir.live {
		if k.Version == v && k.ActiveAt > 0 {
			return time.Unix(k.ActiveAt, 0)
		}
	}
	return time.Time{}
}

type ringKey struct {
	ix    *indexPlan
	scope string
}

// searchState is the keyring's part about index keys.
type searchState struct {
	roots atomic.Pointer[indexRoots] // nil: the global keys have none yet
	// checkAfter is when (cache clock, Unix ns) the global keys are to be
	// read again before the next index use.
	checkAfter atomic.Int64
	// activationDelay is how long after RotateIndexKey the new version is
	// written (WithIndexKeyActivationDelay).
	activationDelay time.Duration
}

// setIndexRoots installs the index roots of freshly read global keys,
// keeping the current snapshot (and its prepared keyrings) if the live
// versions did not change.
func (r *keyring) setIndexRoots(keys *subjectkey.Keys) error {
	r.search.checkAfter.Store(r.cache.now().Add(r.cache.ttl).UnixNano())
	ks := keys.IndexKeys()
	if len(ks) == 0 {
		r.search.roots.Store(nil)
		return nil
	}
	versions := make([]uint32, len(ks))
	live := make([]subjectkey.IndexKey, len(ks))
	for i, k := range ks {
		versions[len(ks)-1-i] = k.Version
		live[i] = subjectkey.IndexKey{Version: k.Version, ActiveAt: k.ActiveAt}
	}
	if cur := r.search.roots.Load(); cur != nil && slices.EqualFunc(cur.live, live, sameIndexKey) {
		return nil // versions are never reused: same versions, same keys
	}
	ir := &indexRoots{roots: make(map[uint32]blindindex.RootKey, len(ks)), versions: versions, live: live}
	for _, k := range ks {
		root, err := blindindex.NewRootKey(k.Key)
		if err != nil {
			return fmt.Errorf("pii: index key: %w", err)
		}
		ir.roots[k.Version] = root
	}
	r.search.roots.Store(ir)
	return nil
}

func sameIndexKey(a, b subjectkey.IndexKey) bool {
	return a.Version == b.Version && a.ActiveAt == b.ActiveAt
}

// indexRoots returns the live index roots, reading the global keys again
// first if they are older than the cache TTL (or force), and creating
// version 1 on a store whose global keys have none.
func (p *Protector) indexRoots(ctx context.Context, force bool) (*indexRoots, error) {
	r := p.ring
	if cur := r.search.roots.Load(); cur != nil && !force && r.cache.now().UnixNano() < r.search.checkAfter.Load() {
		return cur, nil
	}
	v, err, _ := r.flights.Do("\x00index", func() (any, error) {
		if err := r.reloadGlobal(ctx); err != nil {
			return nil, err
		}
		if r.search.roots.Load() == nil {
			// Global keys from before index keys: add version 1.
			err := p.rewriteID(ctx, "", globalRecordID, "create index key", func(b *subjectkey.Bundle) (bool, error) {
				if b.HasIndexKeys() {
					return false, nil // another process did
				}
				_, err := b.RotateIndexKey(0) // version 1: active at once
				return true, err
			})
			if err != nil {
				return nil, err
			}
			if err := r.reloadGlobal(ctx); err != nil {
				return nil, err
			}
		}
		if ir := r.search.roots.Load(); ir != nil {
			return ir, nil
		}
		return nil, fmt.Errorf("pii: the global keys have no index key")
	})
	if err != nil {
		return nil, err
	}
	return v.(*indexRoots), nil
}

// reloadGlobal reads the global record and installs what it holds
// (addressing and index roots), whether or not it changed.
func (r *keyring) reloadGlobal(ctx context.Context) error {
	if _, err := r.refresh(ctx); err != nil {
		return err
	}
	r.search.checkAfter.Store(r.cache.now().Add(r.cache.ttl).UnixNano())
	return nil
}

// keyring returns the prepared keyring of index ix in scope, keyed by the
// global roots, or by subject's keys for a scope=subject index.
func (ir *indexRoots) keyring(ix *indexPlan, scope string) (*blindindex.Keyring, error) {
	k := ringKey{ix, scope}
	if kr, ok := ir.rings.Load(k); ok {
		return kr.(*blindindex.Keyring), nil
	}
	kr, err := blindindex.NewKeyring(ix.blindName(scope), ix.def, ir.roots)
	if err != nil {
		return nil, fmt.Errorf("pii: index key: %w", err)
	}
	actual, _ := ir.rings.LoadOrStore(k, kr)
	return actual.(*blindindex.Keyring), nil
}

// subjectKeyring returns the keyring of a scope=subject index, derived from
// the subject's keys and kept with them (so it goes when they go).
func subjectKeyring(keys *subjectkey.Keys, ix *indexPlan, scope string) (*blindindex.Keyring, error) {
	kr, err := keys.Memo(ringKey{ix, scope}, func() (any, error) {
		raw, err := keys.SubjectIndexRoot()
		if err != nil {
			return nil, err
		}
		root, err := blindindex.NewRootKey(raw)
		if err != nil {
			return nil, err
		}
		return blindindex.NewKeyring(ix.blindName(scope), ix.def, map[uint32]blindindex.RootKey{1: root})
	})
	if err != nil {
		return nil, fmt.Errorf("pii: subject index key: %w", err)
	}
	return kr.(*blindindex.Keyring), nil
}

// blindName is the name bound into the index's key derivation.
func (ix *indexPlan) blindName(scope string) blindindex.Name {
	return blindindex.Name{Scope: scope, Field: ix.field, Index: ix.name}
}

// RotateIndexKey adds a new version of the global index root key and
// returns it. Lookups (IndexTerms) ask for it at once in this Protector,
// and in other processes as soon as they read the global keys again, at
// the latest one key cache TTL later. Seal writes it only from its
// activation time on: now plus the activation delay (by default this
// Protector's key cache TTL plus IndexKeyClockSkew; see
// WithIndexKeyActivationDelay), or later if an older version activates
// later. Until then Seal keeps writing the previous version, so no
// process's lookup misses a row during the rotation. On a store whose
// global keys have no index key yet, it creates version 1, active at once.
// See "Search" in the package doc for the whole procedure.
func (p *Protector) RotateIndexKey(ctx context.Context) (version uint32, err error) {
	activeAt := activationTime(p.ring.cache.now(), p.ring.search.activationDelay)
	err = p.rewriteID(ctx, "", globalRecordID, "rotate index key", func(b *subjectkey.Bundle) (bool, error) {
		var err error
		version, err = b.RotateIndexKey(activeAt)
		return true, err
	})
	if err != nil {
		return 0, err
	}
	if err := p.ring.reloadGlobal(ctx); err != nil {
		return 0, err
	}
	return version, nil
}

// activationTime is now+delay in Unix seconds, rounded up (never sooner
// than the delay), or down for no delay (active at once).
func activationTime(now time.Time, delay time.Duration) int64 {
	t := now.Add(delay)
	s := t.Unix()
	if delay > 0 && t.Nanosecond() > 0 {
		s++
	}
	return max(s, 0)
}

// IndexKeyVersions reports the live versions of the global index root key
// this Protector knows, newest first (every one of them is asked for by
// lookups), and the version Seal writes now: the newest whose activation
// time has come, which is older than the newest for a while after
// RotateIndexKey. Both are empty on a store whose global keys have no
// index key yet.
func (p *Protector) IndexKeyVersions() (versions []uint32, writing uint32) {
	ir := p.ring.search.roots.Load()
	if ir == nil {
		return nil, 0
	}
	return slices.Clone(ir.versions), ir.writing(p.ring.cache.now())
}

// IndexKeyStatus describes the live versions of the global index root key
// this Protector knows, newest first: when each is written from, and which
// one Seal writes now. It is empty on a store whose global keys have no
// index key yet.
func (p *Protector) IndexKeyStatus() []IndexKeyInfo {
	ir := p.ring.search.roots.Load()
	if ir == nil {
		return nil
	}
	w := ir.writing(p.ring.cache.now())
	out := make([]IndexKeyInfo, len(ir.versions))
	for i, v := range ir.versions {
		out[i] = IndexKeyInfo{Version: v, ActiveAt: ir.activeAt(v), Writing: v == w}
	}
	return out
}

// RetireIndexKey removes a version of the global index root key: queries
// stop asking for it, and terms of that version can never be computed
// again. Retire a version only once no row holds a term of it (re-index
// with ReindexAll, then scan: IndexTermVersion, or LIKE 'v1:%'). The
// newest version and the version Seal writes now (the previous one, until
// the newest is active) cannot be retired (ErrIndexKeyVersion).
func (p *Protector) RetireIndexKey(ctx context.Context, version uint32) error {
	now := p.ring.cache.now().Unix()
	err := p.rewriteID(ctx, "", globalRecordID, "retire index key", func(b *subjectkey.Bundle) (bool, error) {
		if err := b.RetireIndexKey(version, now); err != nil {
			return false, fmt.Errorf("%w: %w", ErrIndexKeyVersion, err)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return p.ring.reloadGlobal(ctx)
}

// checkIndexKeyActive fails with an *IndexKeyNotActiveError while the
// newest version of ir is not written yet.
func (p *Protector) checkIndexKeyActive(ir *indexRoots) error {
	newest := ir.versions[0]
	if ir.writing(p.ring.cache.now()) != newest {
		return &IndexKeyNotActiveError{Version: newest, ActiveAt: ir.activeAt(newest)}
	}
	return nil
}

// IndexTermVersion returns the key version of a stored text term ("v2:…"),
// for the scan that precedes RetireIndexKey. A string that is not a term
// is an error wrapping blindindex.ErrInvalidTerm (which does not hold it).
func IndexTermVersion(term string) (uint32, error) {
	t, err := blindindex.ParseTerm(term)
	if err != nil {
		return 0, fmt.Errorf("pii: %w", err)
	}
	return t.Version(), nil
}
