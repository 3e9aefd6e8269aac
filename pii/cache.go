package pii

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// keyCache holds unwrapped subject keys, bounded in entries and time. An
// entry may instead record that the subject is forgotten (a negative entry),
// which saves a key store round trip; it is an optimization only; the
// store's tombstone is what refuses a forgotten subject.
//
// What keeps an erased key out of the cache is the guard below, which lives
// outside the LRU and the TTL: every load takes a ticket (begin) from a
// sequence, and every erasure, readmission or other change of a record
// (Forget, Readmit, RotateSubjectKey, an announcement from the store) bumps
// the sequence and marks the record ID. A load whose ID was marked after
// its ticket was taken cannot insert what it loaded. A mark is kept exactly
// as long as some load that began before it is still in flight, whatever
// the TTL, the LRU or the fetch timeout; their number is bounded (maxMarks):
// past the bound every mark is dropped at once and every load in flight is
// refused as changed (floor), which is always safe.
type keyCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[string]*list.Element
	lru     list.List // front: most recently used
	// subjects maps the key store ID of each cached subject (positive or
	// negative entry) back to it, so that an announcement by ID can reach
	// the entry.
	subjects map[string]string

	seq      uint64          // bumped by every mark and every dropKeys
	marks    map[string]mark // record ID → latest change since the oldest load in flight began
	maxMarks int
	floor    uint64         // loads that began before it are refused as changed
	dropped  uint64         // loads that began before it are not cached (dropKeys)
	inflight map[uint64]int // ticket → loads in flight holding it
	// degraded: the erasure watcher is not listening, so erasures elsewhere
	// go unannounced: positive entries live at most degradedTTL.
	degraded bool
}

// maxMarks bounds the marks kept for loads in flight (IDs are at most
// keystore.MaxIDLength bytes: about a megabyte at worst).
const maxMarks = 4096

// degradedTTL caps how long a key is cached while the erasure watcher is
// not listening.
const degradedTTL = time.Second

// mark records that a record ID changed at sequence number seq.
type mark struct {
	seq    uint64
	erased bool // a confirmed erasure (Forget here); otherwise a change to reload
}

type cacheEntry struct {
	subject string
	// ids are the key store record IDs of the subject, if known: one, or
	// while the store is being re-addressed (see readdress.go), its address
	// under every live generation of the addressing key, newest first.
	ids       []string
	keys      *subjectkey.Keys
	forgotten bool
	expires   time.Time
}

type cacheState uint8

const (
	cacheMiss cacheState = iota
	cacheHit
	cacheForgotten
)

func newKeyCache(entries int, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{max: entries, ttl: ttl, now: now, entries: make(map[string]*list.Element),
		subjects: make(map[string]string), marks: make(map[string]mark),
		maxMarks: maxMarks, inflight: make(map[uint64]int)}
}

func (c *keyCache) get(subject string) (*subjectkey.Keys, cacheState) {
	// No defer: this is on every warm Seal and Open, and nothing below
	// can panic.
	c.mu.Lock()
	el, ok := c.entries[subject]
	if !ok {
		c.mu.Unlock()
		return nil, cacheMiss
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		c.mu.Unlock()
		return nil, cacheMiss
	}
	if c.lru.Front() != el { // the same subject again: already in front
		c.lru.MoveToFront(el)
	}
	keys, state := e.keys, cacheHit
	if e.forgotten {
		keys, state = nil, cacheForgotten
	}
	c.mu.Unlock()
	return keys, state
}

// begin takes a ticket for a load about to read the key store; the load
// passes it to put or forgetLoaded and must call end with it when done.
func (c *keyCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight[c.seq]++
	return c.seq
}

// end releases a ticket, and forgets the marks no load in flight needs.
func (c *keyCache) end(ticket uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[ticket]--; c.inflight[ticket] <= 0 {
		delete(c.inflight, ticket)
	}
	c.pruneMarks()
}

// pruneMarks drops every mark no load in flight began before.
func (c *keyCache) pruneMarks() {
	if len(c.marks) == 0 {
		return
	}
	if len(c.inflight) == 0 {
		clear(c.marks)
		return
	}
	oldest := ^uint64(0)
	for t := range c.inflight {
		oldest = min(oldest, t)
	}
	for id, m := range c.marks {
		if m.seq <= oldest {
			delete(c.marks, id)
		}
	}
}

// changedSince reports whether any of ids was marked after ticket (or
// marks were dropped), and if so whether the latest such mark is an
// erasure.
func (c *keyCache) changedSince(ids []string, ticket uint64) (changed, erased bool) {
	if ticket < c.floor {
		return true, false
	}
	var latest uint64
	for _, id := range ids {
		m, ok := c.marks[id]
		if !ok || m.seq <= ticket || m.seq < latest {
			continue
		}
		latest, changed, erased = m.seq, true, m.erased
	}
	return changed, erased
}

// put caches keys for subject, whose key store record is id, loaded under
// ticket. It fails with ErrForgotten if the subject has a live negative
// entry or id was erased here after the ticket was taken, and with
// ErrKeysChanged if id changed otherwise (readmitted, rotated, announced):
// the caller loads again. A key loaded before every key was dropped
// (dropKeys) is returned but not cached.
func (c *keyCache) put(subject, id string, keys *subjectkey.Keys, ticket uint64) error {
	return c.putAll(subject, []string{id}, keys, ticket)
}

// putAll is put for a subject known by several record IDs (every live
// address): a mark on any of them refuses the load.
func (c *keyCache) putAll(subject string, ids []string, keys *subjectkey.Keys, ticket uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if changed, erased := c.changedSince(ids, ticket); changed {
		if erased {
			return ErrForgotten
		}
		return ErrKeysChanged
	}
	now := c.now()
	if el, ok := c.entries[subject]; ok {
		e := el.Value.(*cacheEntry)
		if e.forgotten && now.Before(e.expires) {
			return ErrForgotten
		}
		c.remove(el)
	}
	if ticket < c.dropped {
		return nil
	}
	ttl := c.ttl
	if c.degraded {
		ttl = min(ttl, degradedTTL)
	}
	c.insert(&cacheEntry{subject: subject, ids: ids, keys: keys}, ttl)
	return nil
}

// forgetLoaded records that a load under ticket found subject's record id
// erased: a negative entry, unless id changed since (a Readmit raced the
// load, and the negative entry would be stale).
func (c *keyCache) forgetLoaded(subject, id string, ticket uint64) {
	c.forgetLoadedAll(subject, []string{id}, ticket)
}

// forgetLoadedAll is forgetLoaded for a subject known by several IDs.
func (c *keyCache) forgetLoadedAll(subject string, ids []string, ticket uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if changed, erased := c.changedSince(ids, ticket); changed && !erased {
		return
	}
	c.negative(subject, ids)
}

// markErased records that this process is erasing subject's record id:
// any entry is dropped and every load in flight is refused with
// ErrForgotten. With confirmed (the store committed the erasure), a
// negative entry is added.
func (c *keyCache) markErased(subject, id string, confirmed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mark(id, true)
	if subject == "" {
		subject = c.subjects[id]
	}
	if el, ok := c.entries[subject]; ok {
		c.remove(el)
	}
	if confirmed && subject != "" {
		c.negative(subject, []string{id})
	}
}

// markChanged records that record id changed (readmitted, rotated, or
// announced as erased or readmitted by the store): loads in flight for it
// load again, and its positive entry is dropped. A negative entry is
// dropped only with dropNegative: the caller confirmed that no tombstone
// stands.
func (c *keyCache) markChanged(subject, id string, dropNegative bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mark(id, false)
	if subject == "" {
		subject = c.subjects[id]
	}
	if el, ok := c.entries[subject]; ok && (dropNegative || !el.Value.(*cacheEntry).forgotten) {
		c.remove(el)
	}
}

// isNegative reports whether record id has a live negative entry.
func (c *keyCache) isNegative(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	subject, ok := c.subjects[id]
	if !ok {
		return false
	}
	el, ok := c.entries[subject]
	return ok && el.Value.(*cacheEntry).forgotten
}

func (c *keyCache) mark(id string, erased bool) {
	c.seq++
	if len(c.inflight) == 0 {
		return // no load can be affected
	}
	if _, ok := c.marks[id]; !ok && len(c.marks) >= c.maxMarks {
		c.pruneMarks()
		if len(c.marks) >= c.maxMarks {
			// Bounded memory: forget every mark, and refuse every load in
			// flight as changed instead (they load again).
			clear(c.marks)
			c.floor = c.seq
		}
	}
	c.marks[id] = mark{seq: c.seq, erased: erased}
}

// dropKeys removes every positive entry (negative ones stay: they are
// still true), and keeps loads in flight from caching what they read.
func (c *keyCache) dropKeys() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.dropped = c.seq
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if !el.Value.(*cacheEntry).forgotten {
			c.remove(el)
		}
		el = next
	}
}

// setDegraded caps (or stops capping) the lifetime of new positive entries.
func (c *keyCache) setDegraded(d bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.degraded = d
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// markCount reports how many marks are kept (for tests of the bound).
func (c *keyCache) markCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.marks)
}

func (c *keyCache) negative(subject string, ids []string) {
	if el, ok := c.entries[subject]; ok {
		c.remove(el)
	}
	c.insert(&cacheEntry{subject: subject, ids: ids, forgotten: true}, c.ttl)
}

func (c *keyCache) insert(e *cacheEntry, ttl time.Duration) {
	e.expires = c.now().Add(ttl)
	c.entries[e.subject] = c.lru.PushFront(e)
	for _, id := range e.ids {
		if id == "" {
			continue
		}
		if old, ok := c.subjects[id]; ok && old != e.subject {
			// Two subjects cannot share an ID; keep the map exact anyway.
			if el, ok := c.entries[old]; ok {
				c.remove(el)
			}
		}
		c.subjects[id] = e.subject
	}
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *keyCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	delete(c.entries, e.subject)
	for _, id := range e.ids {
		if id != "" && c.subjects[id] == e.subject {
			delete(c.subjects, id)
		}
	}
	c.lru.Remove(el)
}

// coarseNow is a clock that ticks every coarseTick. Reading time.Now on
// every cache hit cost about a tenth of a warm Open on our benchmark
// machines; cache expiry only needs to be accurate to well under its TTL.
func coarseNow() time.Time {
	coarse.once.Do(func() {
		coarse.nanos.Store(time.Now().UnixNano())
		go func() {
			for t := range time.Tick(coarseTick) {
				coarse.nanos.Store(t.UnixNano())
			}
		}()
	})
	return time.Unix(0, coarse.nanos.Load())
}

const coarseTick = 100 * time.Millisecond

var coarse struct {
	once  sync.Once
	nanos atomic.Int64
}
