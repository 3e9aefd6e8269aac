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
// which a concurrent fill cannot overwrite: a load that started before a
// Forget cannot bring the key back into this process.
type keyCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[string]*list.Element
	lru     list.List // front: most recently used
	// subjects maps the key store ID of each cached subject back to it, so
	// that an erasure announced by ID can reach the entry.
	subjects map[string]string
	// erased holds record IDs announced as erased, until their expiry: a
	// load that read the record just before the erasure committed must not
	// cache its key after the announcement has come and gone.
	erased map[string]time.Time
	// gen changes whenever every key is dropped (the erasure listener
	// reconnected); a load begun under an older generation may have read
	// a record whose erasure was never announced, so it is not cached.
	gen uint64
}

type cacheEntry struct {
	subject   string
	id        string // key store record ID, if known
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

func newKeyCache(max int, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{max: max, ttl: ttl, now: now, entries: make(map[string]*list.Element),
		subjects: make(map[string]string), erased: make(map[string]time.Time)}
}

func (c *keyCache) get(subject string) (*subjectkey.Keys, cacheState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[subject]
	if !ok {
		return nil, cacheMiss
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return nil, cacheMiss
	}
	c.lru.MoveToFront(el)
	if e.forgotten {
		return nil, cacheForgotten
	}
	return e.keys, cacheHit
}

// generation returns the current generation, to pass to put.
func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches keys for subject, whose key store record is id, loaded during
// generation gen. It refuses (returns false) if the subject has a live
// negative entry or its record was announced as erased. A key loaded under
// an older generation is not cached, but not refused either.
func (c *keyCache) put(subject, id string, keys *subjectkey.Keys, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if el, ok := c.entries[subject]; ok {
		e := el.Value.(*cacheEntry)
		if e.forgotten && now.Before(e.expires) {
			return false
		}
		c.remove(el)
	}
	if until, ok := c.erased[id]; ok && now.Before(until) {
		c.insert(&cacheEntry{subject: subject, forgotten: true})
		return false
	}
	if gen != c.gen {
		return true
	}
	c.insert(&cacheEntry{subject: subject, id: id, keys: keys})
	return true
}

// forgetID records that the record id was erased: the subject's entry, if
// cached, becomes negative, and a load of that record finishing later is
// refused. It reports whether the subject was cached.
func (c *keyCache) forgetID(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.erased) >= 2*c.max {
		for k, until := range c.erased {
			if !now.Before(until) {
				delete(c.erased, k)
			}
		}
	}
	c.erased[id] = now.Add(c.ttl)
	subject, ok := c.subjects[id]
	if !ok {
		return false
	}
	c.remove(c.entries[subject])
	c.insert(&cacheEntry{subject: subject, forgotten: true})
	return true
}

// dropKeys removes every positive entry (negative ones stay: they are
// still true).
func (c *keyCache) dropKeys() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if !el.Value.(*cacheEntry).forgotten {
			c.remove(el)
		}
		el = next
	}
}

// forget replaces any entry for subject with a negative one.
func (c *keyCache) forget(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[subject]; ok {
		c.remove(el)
	}
	c.insert(&cacheEntry{subject: subject, forgotten: true})
}

// evict drops any entry for subject, positive or negative.
func (c *keyCache) evict(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[subject]; ok {
		c.remove(el)
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *keyCache) insert(e *cacheEntry) {
	e.expires = c.now().Add(c.ttl)
	c.entries[e.subject] = c.lru.PushFront(e)
	if e.id != "" {
		c.subjects[e.id] = e.subject
	}
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *keyCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	delete(c.entries, e.subject)
	if e.id != "" {
		delete(c.subjects, e.id)
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
