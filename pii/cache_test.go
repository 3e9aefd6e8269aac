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
	c.put("alice", "s.A", k)
	c.put("bob", "s.B", k)
	c.forget("carol")

	if !c.forgetID("s.A") {
		t.Fatal("forgetID of a cached subject reported nothing")
	}
	if _, st := c.get("alice"); st != cacheForgotten {
		t.Errorf("after forgetID, alice is %v, want forgotten", st)
	}
	if c.put("alice", "s.A", k) {
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
