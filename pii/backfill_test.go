package pii_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// BackfillMember is a row of a table being encrypted: Email was a plaintext
// string column, Born a date column now moved into a ciphertext column.
type BackfillMember struct {
	_       struct{}              `pii:"scope=BackfillMember"`
	ID      int64                 // primary key
	Subject string                `pii:"subject"`
	Email   pii.SealedString      `pii:"encrypt"`
	Born    pii.Sealed[time.Time] `pii:"encrypt"`
	Card    string                `pii:"token,format=pan"` // left alone
	Version int64                 // bumped by every write
}

// memTable is a table with optimistic concurrency, for Backfill.
type memTable struct {
	mu   sync.Mutex
	rows []BackfillMember
}

func (m *memTable) fetch(_ context.Context, after string, limit int) ([]BackfillMember, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil {
			return nil, "", err
		}
		start = n
	}
	end := min(start+limit, len(m.rows))
	page := append([]BackfillMember(nil), m.rows[start:end]...)
	next := ""
	if end < len(m.rows) {
		next = strconv.Itoa(end)
	}
	return page, next, nil
}

func (m *memTable) save(_ context.Context, rows []BackfillMember) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range rows {
		if m.rows[r.ID].Version != r.Version {
			continue // changed since fetched: leave it to the next run
		}
		r.Version++
		m.rows[r.ID] = r
		n++
	}
	return n, nil
}

func memberBorn(i int) time.Time { return time.Date(1950+i%50, 1, 1+i%28, 0, 0, 0, 0, time.UTC) }

func TestBackfillSealsResealsResumes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 300
	tbl := &memTable{}
	for i := range n {
		r := BackfillMember{ID: int64(i), Subject: fmt.Sprintf("s%d", i%7), Email: pii.SealedString(fmt.Sprintf("m%d@example.com", i)), Born: pii.NewSealed(memberBorn(i))}
		if i%3 == 0 { // sealed already
			if err := e.p.Seal(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		tbl.rows = append(tbl.rows, r)
	}
	// One mixed row: Email sealed, Born still plain.
	mixed := BackfillMember{ID: 1, Subject: "s1", Email: "m1@example.com"}
	if err := e.p.Seal(ctx, &mixed); err != nil {
		t.Fatal(err)
	}
	tbl.rows[1].Email = mixed.Email
	// s0's key is rotated: its sealed rows are under a retired key.
	if _, err := e.p.RotateSubjectKey(ctx, "s0"); err != nil {
		t.Fatal(err)
	}
	// s6 is forgotten: its rows fail and stay as they are.
	if _, err := e.p.Forget(ctx, "s6"); err != nil {
		t.Fatal(err)
	}
	forgotten := 0
	for i := range n {
		if i%7 == 6 {
			forgotten++
		}
	}

	dry, err := pii.Backfill(ctx, e.p, pii.BackfillOptions[BackfillMember]{Fetch: tbl.fetch, DryRun: true, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	wantPlain := 0
	wantOld := 0
	for i := range n {
		switch {
		case i%7 == 6:
		case i%3 != 0 || i == 1:
			wantPlain++
		case i%7 == 0:
			wantOld++
		}
	}
	if dry.Scanned != n || dry.Plaintext != wantPlain || dry.OldKey != wantOld || dry.Failed != forgotten || dry.Written != 0 {
		t.Fatalf("dry run = %+v, want %d plaintext, %d old, %d failed", dry, wantPlain, wantOld, forgotten)
	}
	if tbl.rows[2].Born.IsSealed() {
		t.Fatal("a dry run changed a row")
	}

	current := map[int64]BackfillMember{} // rows already current: must stay byte for byte
	for i := range n {
		if i%3 == 0 && i%7 != 0 && i%7 != 6 && i != 1 {
			current[int64(i)] = tbl.rows[i]
		}
	}

	// Interrupted after two pages, then resumed from the last cursor.
	cctx, cancel := context.WithCancel(ctx)
	pages := 0
	var last pii.BackfillReport
	first, err := pii.Backfill(cctx, e.p, pii.BackfillOptions[BackfillMember]{
		Fetch: tbl.fetch, Save: tbl.save, BatchSize: 64,
		Progress: func(r pii.BackfillReport) {
			last = r
			if pages++; pages == 2 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) || first.Cursor != "128" || last.Cursor != "128" || first.Scanned != 128 {
		t.Fatalf("interrupted run = %+v, %v", first, err)
	}
	second, err := pii.Backfill(ctx, e.p, pii.BackfillOptions[BackfillMember]{Fetch: tbl.fetch, Save: tbl.save, BatchSize: 64, After: first.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	if first.Written+second.Written != wantPlain+wantOld {
		t.Errorf("written %d+%d, want %d", first.Written, second.Written, wantPlain+wantOld)
	}
	for _, fe := range second.Errors {
		if !errors.Is(fe, pii.ErrForgotten) {
			t.Errorf("row error %v, want ErrForgotten", fe)
		}
	}

	after, err := pii.Backfill(ctx, e.p, pii.BackfillOptions[BackfillMember]{Fetch: tbl.fetch, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if after.Plaintext != 0 || after.OldKey != 0 || after.Current != n-forgotten {
		t.Errorf("after the backfill: %+v", after)
	}
	for id, r := range current {
		got := tbl.rows[id]
		b1, _ := got.Born.Ciphertext()
		b2, _ := r.Born.Ciphertext()
		if got.Email != r.Email || b1 != b2 || got.Version != r.Version {
			t.Errorf("row %d was current and was rewritten", id)
		}
	}
	// Every row opens to its values, and s0's under its new key only.
	if _, err := e.p.PruneSubjectKeys(ctx, "s0", 1); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if i%7 == 6 {
			continue
		}
		r := tbl.rows[i]
		if err := e.p.Open(ctx, &r); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if b, _ := r.Born.Get(); string(r.Email) != fmt.Sprintf("m%d@example.com", i) || !b.Equal(memberBorn(i)) {
			t.Fatalf("row %d opened to other values", i)
		}
	}
}

func TestBackfillLeavesConcurrentWritesAlone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tbl := &memTable{}
	for i := range 50 {
		tbl.rows = append(tbl.rows, BackfillMember{ID: int64(i), Subject: "s", Email: pii.SealedString(fmt.Sprintf("old%d", i))})
	}
	// The application rewrites row 10 (sealed, new value) between the
	// backfill's fetch and its save.
	fetch := func(ctx context.Context, after string, limit int) ([]BackfillMember, string, error) {
		rows, next, err := tbl.fetch(ctx, after, limit)
		if after == "" {
			app := BackfillMember{ID: 10, Subject: "s", Email: "new10"}
			if err := e.p.Seal(ctx, &app); err != nil {
				return nil, "", err
			}
			tbl.mu.Lock()
			app.Version = tbl.rows[10].Version + 1
			tbl.rows[10] = app
			tbl.mu.Unlock()
		}
		return rows, next, err
	}
	rep, err := pii.Backfill(ctx, e.p, pii.BackfillOptions[BackfillMember]{Fetch: fetch, Save: tbl.save, BatchSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Plaintext != 50 || rep.Written != 49 {
		t.Errorf("report %+v, want 50 plaintext, 49 written", rep)
	}
	r := tbl.rows[10]
	if err := e.p.Open(ctx, &r); err != nil || r.Email != "new10" {
		t.Errorf("the application's write was overwritten: %v %q", err, r.Email)
	}
}

func TestBackfillBadOptions(t *testing.T) {
	e := newEnv(t)
	if _, err := pii.Backfill(context.Background(), e.p, pii.BackfillOptions[BackfillMember]{}); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("Backfill without Fetch = %v", err)
	}
	if _, err := pii.Backfill(context.Background(), e.p, pii.BackfillOptions[int]{Fetch: func(context.Context, string, int) ([]int, string, error) { return nil, "", nil }, DryRun: true}); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("Backfill of ints = %v", err)
	}
}
