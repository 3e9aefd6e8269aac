package pii

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

type addrCustomer struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

// readdressStores are the stores the re-addressing tests run on.
func readdressStores(t *testing.T) map[string]func(t *testing.T) keystore.Store {
	return map[string]func(t *testing.T) keystore.Store{
		"memory": func(*testing.T) keystore.Store { return memory.New() },
		"sqlite": func(t *testing.T) keystore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) keystore.Store {
			s, err := postgres.Open(context.Background(), pgtest.Schema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		},
	}
}

// crashingStore fails every Readdress after the first n, as a process
// killed in the middle of a re-addressing run would stop.
type crashingStore struct {
	keystore.Store
	left atomic.Int64
}

var errCrash = errors.New("test: crashed")

func (s *crashingStore) Readdress(ctx context.Context, m keystore.Move) (keystore.Moved, error) {
	if s.left.Add(-1) < 0 {
		return keystore.Moved{}, errCrash
	}
	return s.Store.(keystore.Readdresser).Readdress(ctx, m)
}

func mustNew(t *testing.T, kek *kmstest.KEK, s keystore.Store) *Protector {
	t.Helper()
	p, err := New(context.Background(), kek, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// everyID lists every record and tombstone ID of the store.
func everyID(t *testing.T, s keystore.Store) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	recs, err := s.Scan(ctx, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	ts, err := s.Tombstones(ctx, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range ts {
		ids = append(ids, tb.ID)
	}
	return ids
}

// assertErasedEverywhere: no record of subject at any address, and its
// tombstone at the newest.
func assertErasedEverywhere(t *testing.T, p *Protector, subject string) {
	t.Helper()
	ctx := context.Background()
	a := p.ring.addr.Load()
	all, err := a.ids(subject, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		if _, err := p.ring.store.Get(ctx, id); !errors.Is(err, keystore.ErrNotFound) && !errors.Is(err, keystore.ErrTombstoned) {
			t.Errorf("%s: a record is left at %s: %v", subject, id, err)
		}
		if recs, _ := p.ring.store.Scan(ctx, "", 10000); true {
			for _, r := range recs {
				if r.ID == id {
					t.Errorf("%s: a record (restored beside a tombstone?) is left at %s", subject, id)
				}
			}
		}
	}
	if _, err := p.ring.store.GetTombstone(ctx, all[0]); err != nil {
		t.Errorf("%s: no tombstone at the newest address: %v", subject, err)
	}
}

func TestReaddressEndToEnd(t *testing.T) {
	for name, newStore := range readdressStores(t) {
		t.Run(name, func(t *testing.T) { testReaddressEndToEnd(t, newStore(t)) })
	}
}

func testReaddressEndToEnd(t *testing.T, store keystore.Store) {
	ctx := context.Background()
	kek := kmstest.New("test:1")
	p := mustNew(t, kek, store)
	const n = 8
	subjects := make([]string, n)
	sealed := make([]addrCustomer, n)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("person%d@example.com", i)
		sealed[i] = addrCustomer{ID: subjects[i], Name: "Name " + subjects[i]}
		if err := p.Seal(ctx, &sealed[i]); err != nil {
			t.Fatal(err)
		}
	}
	erasedBefore := subjects[n-1]
	if _, err := p.Forget(ctx, erasedBefore); err != nil {
		t.Fatal(err)
	}
	oldAddr := p.ring.addr.Load() // what an attacker who stole the old key can compute
	stale := mustNew(t, kek, store)
	if got := stale.Addressing(); got != (AddressingState{}) {
		t.Fatalf("Addressing before rotation = %+v", got)
	}

	st, err := p.RotateAddressingKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (AddressingState{Newest: 1, Live: 0}) {
		t.Fatalf("RotateAddressingKey = %+v, want newest 1, live 0", st)
	}

	// A run that crashes after moving three records leaves a mixed state.
	crash := &crashingStore{Store: store}
	crash.left.Store(3)
	mover := mustNew(t, kek, crash)
	if _, err := mover.ReaddressAll(ctx, ReaddressOptions{BatchSize: 2}); !errors.Is(err, errCrash) {
		t.Fatalf("crashing ReaddressAll = %v, want the crash", err)
	}
	var gens [2]int
	for _, id := range everyID(t, store) {
		if g, ok := Generation(id); ok {
			gens[g]++
		}
	}
	if gens[0] == 0 || gens[1] == 0 {
		t.Fatalf("after the crash: %v records at generations 0 and 1; want a mixed state", gens)
	}

	// Mixed state: every process, including one created before the
	// rotation, opens, seals and forgets every subject.
	fresh := mustNew(t, kek, store)
	for _, q := range []*Protector{p, stale, fresh} {
		for i, s := range subjects[:n-1] {
			c := sealed[i]
			if err := q.Open(ctx, &c); err != nil || c.Name != "Name "+s {
				t.Fatalf("Open(%s) in the mixed state = %q, %v", s, c.Name, err)
			}
			c2 := addrCustomer{ID: s, Name: "again"}
			if err := q.Seal(ctx, &c2); err != nil {
				t.Fatalf("Seal(%s) in the mixed state = %v", s, err)
			}
			if err := q.Open(ctx, &c2); err != nil || c2.Name != "again" {
				t.Fatalf("Open(Seal(%s)) = %q, %v", s, c2.Name, err)
			}
		}
		c := sealed[n-1]
		if err := q.Open(ctx, &c); !errors.Is(err, ErrForgotten) {
			t.Fatalf("Open of the subject erased before the rotation = %v, want ErrForgotten", err)
		}
		if err := q.Seal(ctx, &addrCustomer{ID: erasedBefore, Name: "x"}); !errors.Is(err, ErrForgotten) {
			t.Fatalf("Seal of the subject erased before the rotation = %v, want ErrForgotten", err)
		}
	}
	if stale.Addressing().Newest != 1 {
		t.Errorf("the process created before the rotation did not pick it up: %+v", stale.Addressing())
	}
	// A new subject gets a newest address.
	newcomer := "newcomer@example.com"
	if err := fresh.Seal(ctx, &addrCustomer{ID: newcomer, Name: "n"}); err != nil {
		t.Fatal(err)
	}
	subjects = append(subjects, newcomer)
	// Forget, from each process, of subjects at either address.
	for i, q := range []*Protector{stale, p, fresh} {
		s := subjects[i]
		if _, err := q.Forget(ctx, s); err != nil {
			t.Fatal(err)
		}
		assertErasedEverywhere(t, p, s)
		c := sealed[i]
		if err := q.Open(ctx, &c); !errors.Is(err, ErrForgotten) {
			t.Errorf("Open after Forget(%s) = %v, want ErrForgotten", s, err)
		}
		e, err := p.erasureStatus(ctx, s)
		keys := 0
		for _, r := range e.Receipts {
			keys += len(r.KeyIDs)
		}
		if err != nil || !e.Erased || len(e.Receipts) == 0 || keys != 3 {
			t.Errorf("erasure status of %s = %+v, %v; want the 3 destroyed keys in its receipts", s, e, err)
		}
	}
	for _, s := range []string{erasedBefore, subjects[3]} {
		e, err := stale.erasureStatus(ctx, s)
		if err != nil || e.Erased != (s == erasedBefore) {
			t.Errorf("erasure status of %s in the mixed state = %+v, %v", s, e, err)
		}
	}
	if _, err := p.RetireAddressingKeys(ctx); !errors.Is(err, ErrReaddressIncomplete) {
		t.Fatalf("RetireAddressingKeys in the mixed state = %v, want ErrReaddressIncomplete", err)
	}

	// Resume, finish, retire.
	dry, err := mover.ReaddressAll(ctx, ReaddressOptions{DryRun: true})
	if !errors.Is(err, nil) || dry.Records+dry.Tombstones == 0 || dry.Remaining == 0 {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	var progress int
	rep, err := fresh.ReaddressAll(ctx, ReaddressOptions{BatchSize: 2, Progress: func(ReaddressReport) { progress++ }})
	if err != nil || rep.Remaining != 0 || rep.Conflicts != 0 || progress == 0 {
		t.Fatalf("ReaddressAll = %+v, %v (progress %d)", rep, err, progress)
	}
	if st, err := p.RetireAddressingKeys(ctx); err != nil || st != (AddressingState{Newest: 1, Live: 1}) {
		t.Fatalf("RetireAddressingKeys = %+v, %v", st, err)
	}
	for _, q := range []*Protector{p, stale, fresh, mustNew(t, kek, store)} {
		for i := 3; i < n-1; i++ {
			c := sealed[i]
			if err := q.Open(ctx, &c); err != nil {
				t.Fatalf("Open(%s) after retiring = %v", subjects[i], err)
			}
		}
		e, err := q.erasureStatus(ctx, erasedBefore)
		if err != nil || !e.Erased || len(e.Receipts) != 1 || !strings.HasPrefix(e.Receipts[0].Subject, "s.") {
			t.Errorf("erasure status of the subject erased before the rotation = %+v, %v; want its receipt under the old address", e, err)
		}
	}
	if _, err := fresh.Forget(ctx, subjects[4]); err != nil {
		t.Fatal(err)
	}
	assertErasedEverywhere(t, p, subjects[4])

	// The property the rotation exists for: with the old key, no record ID
	// of a known subject is found among the store's records and
	// tombstones.
	inStore := map[string]bool{}
	for _, id := range everyID(t, store) {
		inStore[id] = true
		if g, ok := Generation(id); ok && g != 1 {
			t.Errorf("record %s left at generation %d", id, g)
		}
	}
	for _, s := range subjects {
		ids, err := oldAddr.ids(s, true)
		if err != nil {
			t.Fatal(err)
		}
		if inStore[ids[0]] {
			t.Errorf("the old key still finds %s in the store", s)
		}
	}
	if len(inStore) < n {
		t.Fatalf("the store holds %d IDs; the test lost records", len(inStore))
	}
}

// TestReaddressConcurrentForget: erasures from another process while the
// store is re-addressed leave no record of an erased subject at any address.
func TestReaddressConcurrentForget(t *testing.T) {
	for name, newStore := range readdressStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := newStore(t)
			kek := kmstest.New("test:1")
			p := mustNew(t, kek, store)
			var subjects []string
			for i := range 40 {
				s := fmt.Sprintf("c%d", i)
				subjects = append(subjects, s)
				if err := p.Seal(ctx, &addrCustomer{ID: s, Name: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			other := mustNew(t, kek, store)
			if _, err := p.RotateAddressingKey(ctx); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := p.ReaddressAll(ctx, ReaddressOptions{BatchSize: 3}); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; i < len(subjects); i += 2 {
					if _, err := other.Forget(ctx, subjects[i]); err != nil {
						t.Error(err)
					}
				}
			}()
			wg.Wait()
			rep, err := p.ReaddressAll(ctx, ReaddressOptions{})
			if err != nil || rep.Remaining != 0 {
				t.Fatalf("second ReaddressAll = %+v, %v", rep, err)
			}
			for i, s := range subjects {
				if i%2 == 0 {
					assertErasedEverywhere(t, p, s)
					continue
				}
				c := addrCustomer{ID: s, Name: "y"}
				if err := other.Seal(ctx, &c); err != nil {
					t.Fatal(err)
				}
				if err := p.Open(ctx, &c); err != nil || c.Name != "y" {
					t.Fatalf("Open(%s) = %v", s, err)
				}
			}
		})
	}
}

func TestGenerationParsesOnlyCanonicalIDs(t *testing.T) {
	h := strings.Repeat("A", 43)
	for id, want := range map[string]int{"s." + h: 0, "s1." + h: 1, "s12." + h: 12} {
		if g, ok := Generation(id); !ok || g != want {
			t.Errorf("Generation(%q) = %d, %v; want %d", id, g, ok, want)
		}
	}
	for _, id := range []string{"fieldcrypt.global", "s0." + h, "s01." + h, "s-1." + h, "s+1." + h, "s1." + h[1:], "s." + h + "A", "x." + h, "s1" + h} {
		if _, ok := Generation(id); ok {
			t.Errorf("Generation(%q) accepted", id)
		}
	}
}

// TestReaddressRetentionAndStatusBeforeMove: right after a rotation, before
// anything moved, SetRetention finds a record at its old address and
// ErasureStatus finds a tombstone and receipt written under the old key
// (both used to look at the newest address only).
func TestReaddressRetentionAndStatusBeforeMove(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	kek := kmstest.New("test:1")
	p := mustNew(t, kek, store)
	live := addrCustomer{ID: "live@example.com", Name: "Live"}
	gone := addrCustomer{ID: "gone@example.com", Name: "Gone"}
	for _, c := range []*addrCustomer{&live, &gone} {
		if err := p.Seal(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Forget(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RotateAddressingKey(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := mustNew(t, kek, store)
	if err := fresh.SetRetention(ctx, live.ID, time.Now().Add(time.Hour)); err != nil {
		t.Errorf("SetRetention of a record not yet moved: %v", err)
	}
	st, err := fresh.ErasureStatus(ctx, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Erased || len(st.Receipts) == 0 {
		t.Errorf("ErasureStatus of a subject erased before the rotation = %+v, want erased with its receipt", st)
	}
	if st, err := fresh.ErasureStatus(ctx, live.ID); err != nil || st.Erased {
		t.Errorf("ErasureStatus of a live subject = %+v, %v", st, err)
	}
}
