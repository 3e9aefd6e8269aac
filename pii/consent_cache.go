package pii

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// consentView is the cached consent lookup that the Open-time enforcement
// of purposes calls for every subject whose fields need consent. It is built like the key cache's erasure handling:
//
//	v := newConsentView(store, ttl, maxEntries, now)
//	ok, err := v.granted(ctx, ids, purpose) // ids: the subject's live addresses, newest first
//	v.invalidate(id)                        // ErasureEvents.ConsentChanged and .Erased
//	v.dropAll()                             // ErasureEvents.Listening and .Lost
//	v.setDegraded(true|false)               // while no watcher listens: entries live at most degradedTTL (as keys do)
//
// Wiring: keyring.consent is built in New when the store implements
// keystore.ConsentStore, with the key cache's TTL, size and clock;
// Protector.watch passes ConsentChanged and Erased to invalidate, and calls
// dropAll and setDegraded wherever it drops keys and sets the key cache
// degraded; setConsent invalidates this process's entry at once. Open asks
// it (purpose.go, checkConsent) for every subject whose fields it opens for
// a purpose declared NeedsConsent. invalidate, dropAll and setDegraded do
// nothing on a nil view (a store without consent).
//
// Time to withdraw: with keystore/postgres, a withdrawal made anywhere is
// announced at commit, and every watching process stops granting the
// purpose as soon as the announcement arrives (well under a second); while
// the watcher is down, at most degradedTTL. With stores that cannot
// announce (SQLite, memory), at most ttl. A lookup that began before an
// invalidation never installs its (possibly stale) answer.
type consentView struct {
	store keystore.ConsentStore
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu       sync.Mutex
	entries  map[string]*consentEntry // by newest address
	keyOf    map[string]string        // any address -> entry key
	epoch    uint64                   // incremented by every invalidation
	degraded bool
}

type consentEntry struct {
	ids     []string
	granted []string // sorted
	expires time.Time
}

func newConsentView(store keystore.ConsentStore, ttl time.Duration, max int, now func() time.Time) *consentView {
	if max < 1 {
		max = 1
	}
	return &consentView{
		store: store, ttl: ttl, max: max, now: now,
		entries: map[string]*consentEntry{}, keyOf: map[string]string{},
	}
}

// granted reports whether purpose is granted now for the subject at ids
// (newest address first), from the cache or the store.
func (v *consentView) granted(ctx context.Context, ids []string, purpose string) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	now := v.now()
	v.mu.Lock()
	if e, ok := v.entries[ids[0]]; ok && now.Before(e.expires) {
		_, found := slices.BinarySearch(e.granted, purpose)
		v.mu.Unlock()
		return found, nil
	}
	epoch := v.epoch
	v.mu.Unlock()

	granted, err := grantedAt(ctx, v.store, ids)
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(granted, purpose)

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.epoch != epoch || v.ttl <= 0 {
		return found, nil // invalidated meanwhile: answer, but do not cache
	}
	ttl := v.ttl
	if v.degraded {
		ttl = min(ttl, degradedTTL)
	}
	v.evictLocked(ids[0])
	if len(v.entries) >= v.max {
		for k := range v.entries { // any one
			v.evictLocked(k)
			break
		}
	}
	e := &consentEntry{ids: slices.Clone(ids), granted: granted, expires: now.Add(ttl)}
	v.entries[ids[0]] = e
	for _, id := range ids {
		v.keyOf[id] = ids[0]
	}
	return found, nil
}

// invalidate drops what is cached for the subject with address id, and
// keeps lookups in flight from caching their answers.
func (v *consentView) invalidate(id string) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch++
	if k, ok := v.keyOf[id]; ok {
		v.evictLocked(k)
	}
}

// dropAll drops every cached answer.
func (v *consentView) dropAll() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch++
	clear(v.entries)
	clear(v.keyOf)
}

// setDegraded caps the TTL of new entries at degradedTTL while on.
func (v *consentView) setDegraded(on bool) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.degraded = on
}

func (v *consentView) evictLocked(key string) {
	e, ok := v.entries[key]
	if !ok {
		return
	}
	for _, id := range e.ids {
		if v.keyOf[id] == key {
			delete(v.keyOf, id)
		}
	}
	delete(v.entries, key)
}
