package pii

import (
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

func TestCacheForgetIDAndDropKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(10, time.Minute, func() time.Time { return now })
	k := &subjectkey.Keys{}
	c.put("alice", "s.A", k, 0)
	c.put("bob", "s.B", k, 0)
	c.forget("carol")

	if !c.forgetID("s.A") {
		t.Fatal("forgetID of a cached subject reported nothing")
	}
	if _, st := c.get("alice"); st != cacheForgotten {
		t.Errorf("after forgetID, alice is %v, want forgotten", st)
	}
	if c.put("alice", "s.A", k, 0) {
		t.Error("a load after forgetID put the key back")
	}
	if c.forgetID("s.unknown") {
		t.Error("forgetID of an unknown ID reported a hit")
	}

	c.dropKeys()
	if _, st := c.get("bob"); st != cacheMiss {
		t.Errorf("after dropKeys, bob is %v, want a miss", st)
	}
	if _, st := c.get("carol"); st != cacheForgotten {
		t.Errorf("dropKeys removed a negative entry: carol is %v", st)
	}
	if _, st := c.get("alice"); st != cacheForgotten {
		t.Errorf("dropKeys removed a negative entry: alice is %v", st)
	}
	if len(c.subjects) != 0 {
		t.Errorf("reverse map keeps %d stale IDs", len(c.subjects))
	}
}

// TestCacheRefusesKeyLoadedAcrossAnErasure: the announcement of an erasure
// can arrive between another load's read of the record and its insert; the
// insert must then be refused, not kept for a TTL.
func TestCacheRefusesKeyLoadedAcrossAnErasure(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(10, time.Minute, func() time.Time { return now })
	k := &subjectkey.Keys{}
	gen := c.generation()
	if c.forgetID("s.D") { // announced before the load inserts
		t.Error("forgetID reported a cached subject that was not cached")
	}
	if c.put("dave", "s.D", k, gen) {
		t.Fatal("a key loaded across its erasure was cached")
	}
	if _, st := c.get("dave"); st != cacheForgotten {
		t.Errorf("dave is %v after the refused insert, want forgotten", st)
	}
	// A load that straddles a reconnect (dropKeys) is not cached, but not
	// refused: nothing says it was erased.
	gen = c.generation()
	c.dropKeys()
	if !c.put("erin", "s.E", k, gen) {
		t.Error("a key loaded across a reconnect was refused")
	}
	if _, st := c.get("erin"); st != cacheMiss {
		t.Errorf("a key loaded across a reconnect was cached: %v", st)
	}
}
