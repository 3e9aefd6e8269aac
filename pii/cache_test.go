package pii

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

func TestCacheMarksAndDropKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(10, time.Minute, func() time.Time { return now })
	k := &subjectkey.Keys{}
	for _, s := range []string{"alice", "bob"} {
		tk := c.begin()
		if err := c.put(s, "s."+s, k, tk); err != nil {
			t.Fatal(err)
		}
		c.end(tk)
	}
	c.markErased("carol", "s.carol", true)

	// An announcement drops alice's key without refusing her.
	c.markChanged("", "s.alice", false)
	if _, st := c.get("alice"); st != cacheMiss {
		t.Errorf("after an announcement, alice is %v, want a miss", st)
	}
	// An announcement does not drop a negative entry; a confirmed
	// readmission does.
	c.markChanged("", "s.carol", false)
	if _, st := c.get("carol"); st != cacheForgotten {
		t.Errorf("an announcement dropped a negative entry: carol is %v", st)
	}
	c.dropKeys()
	if _, st := c.get("bob"); st != cacheMiss {
		t.Errorf("after dropKeys, bob is %v, want a miss", st)
	}
	if _, st := c.get("carol"); st != cacheForgotten {
		t.Errorf("dropKeys removed a negative entry: carol is %v", st)
	}
	c.markChanged("", "s.carol", true)
	if _, st := c.get("carol"); st != cacheMiss {
		t.Errorf("after a confirmed readmission carol is %v, want a miss", st)
	}
	if len(c.subjects) != 0 || c.markCount() != 0 {
		t.Errorf("reverse map keeps %d stale IDs, %d marks without loads in flight", len(c.subjects), c.markCount())
	}
}

// TestCacheRefusesKeyLoadedAcrossAChange: a load that began before an
// erasure (or a readmission, or a reconnect) must not cache what it read.
func TestCacheRefusesKeyLoadedAcrossAChange(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(10, time.Minute, func() time.Time { return now })
	k := &subjectkey.Keys{}

	tk := c.begin()
	c.markErased("dave", "s.D", false)
	c.negativeEvicted("dave")
	if err := c.put("dave", "s.D", k, tk); !errors.Is(err, ErrForgotten) {
		t.Errorf("a key loaded across its erasure: put = %v, want ErrForgotten", err)
	}
	c.end(tk)

	tk = c.begin()
	c.markErased("fay", "s.F", true)
	c.markChanged("fay", "s.F", true) // readmitted
	if err := c.put("fay", "s.F", k, tk); !errors.Is(err, ErrKeysChanged) {
		t.Errorf("a key loaded across erase+readmit: put = %v, want ErrKeysChanged", err)
	}
	c.forgetLoaded("fay", "s.F", tk) // the stale "forgotten" of that load
	if _, st := c.get("fay"); st != cacheMiss {
		t.Errorf("a load across a readmission left fay %v", st)
	}
	c.end(tk)

	// Across a reconnect (dropKeys): returned, not cached.
	tk = c.begin()
	c.dropKeys()
	if err := c.put("erin", "s.E", k, tk); err != nil {
		t.Errorf("a key loaded across a reconnect was refused: %v", err)
	}
	c.end(tk)
	if _, st := c.get("erin"); st != cacheMiss {
		t.Errorf("a key loaded across a reconnect was cached: %v", st)
	}
	if c.markCount() != 0 {
		t.Errorf("%d marks kept with no load in flight", c.markCount())
	}
}

// TestCacheMarksAreBounded: a flood of changes while a load is in flight
// keeps at most maxMarks marks, and the load is then refused as changed
// (never served from a forgotten mark).
func TestCacheMarksAreBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(10, time.Minute, func() time.Time { return now })
	tk := c.begin()
	c.markErased("victim", "s.V", false)
	for i := range 3 * c.maxMarks {
		c.markChanged("", fmt.Sprintf("s.%d", i), false)
	}
	if n := c.markCount(); n > c.maxMarks {
		t.Errorf("%d marks kept, bound %d", n, c.maxMarks)
	}
	if err := c.put("victim", "s.V", &subjectkey.Keys{}, tk); err == nil {
		t.Error("a load across an erasure was cached once the marks overflowed")
	}
	c.end(tk)
	if n := c.markCount(); n != 0 {
		t.Errorf("%d marks kept with no load in flight", n)
	}
	tk = c.begin()
	if err := c.put("victim", "s.V", &subjectkey.Keys{}, tk); err != nil {
		t.Errorf("a load begun after the flood was refused: %v", err)
	}
	c.end(tk)
}

// negativeEvicted drops subject's entry, as LRU pressure would.
func (c *keyCache) negativeEvicted(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[subject]; ok {
		c.remove(el)
	}
}

// TestCacheGetKeepsLRUOrderAndExpiry: get skips the move when the subject
// is already in front; the least recently used entry is still the one
// evicted, expired entries still miss and forgotten ones still say so.
func TestCacheGetKeepsLRUOrderAndExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(2, time.Minute, func() time.Time { return now })
	k := &subjectkey.Keys{}
	put := func(s string) {
		tk := c.begin()
		if err := c.put(s, "s."+s, k, tk); err != nil {
			t.Fatal(err)
		}
		c.end(tk)
	}
	put("alice")
	put("bob") // bob in front
	for range 3 {
		if got, st := c.get("bob"); st != cacheHit || got != k {
			t.Fatalf("bob: %v, want a hit", st)
		}
	}
	if _, st := c.get("alice"); st != cacheHit { // alice to the front
		t.Fatalf("alice: %v, want a hit", st)
	}
	put("carol") // evicts bob, the least recently used
	if _, st := c.get("bob"); st != cacheMiss {
		t.Errorf("bob: %v, want a miss (evicted)", st)
	}
	if _, st := c.get("alice"); st != cacheHit {
		t.Errorf("alice: %v, want a hit", st)
	}
	now = now.Add(time.Minute)
	if _, st := c.get("alice"); st != cacheMiss {
		t.Errorf("alice after the TTL: %v, want a miss", st)
	}
	c.markErased("dave", "s.dave", true)
	if got, st := c.get("dave"); st != cacheForgotten || got != nil {
		t.Errorf("dave: %v %v, want forgotten without keys", got, st)
	}
}
