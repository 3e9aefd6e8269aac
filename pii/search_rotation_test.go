package pii_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// table is a toy database table of sealed SearchPerson rows, by ID.
type table struct{ rows map[string]SearchPerson }

func (tb *table) lookup(t *testing.T, p *pii.Protector, email string) (terms []string, found []SearchPerson) {
	t.Helper()
	ctx := context.Background()
	terms, err := pii.IndexTerms[SearchPerson](ctx, p, "EmailIdx", email)
	if err != nil {
		t.Fatal(err)
	}
	var cands []SearchPerson
	for _, id := range tb.ids() {
		if slices.Contains(terms, tb.rows[id].EmailIdx) { // WHERE email_idx = ANY($1)
			cands = append(cands, tb.rows[id])
		}
	}
	found, err = pii.Matches(ctx, p, cands, "EmailIdx", email)
	if err != nil {
		t.Fatal(err)
	}
	return terms, found
}

func (tb *table) ids() []string {
	ids := make([]string, 0, len(tb.rows))
	for id := range tb.rows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// fetch and save implement ReindexAll's callbacks, keyset-paginated by ID.
func (tb *table) fetch(_ context.Context, after string, limit int) ([]SearchPerson, string, error) {
	var out []SearchPerson
	for _, id := range tb.ids() {
		if id > after && len(out) < limit {
			out = append(out, tb.rows[id])
		}
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	return out, out[len(out)-1].ID, nil
}

func (tb *table) save(_ context.Context, recs []SearchPerson) error {
	for _, r := range recs {
		tb.rows[r.ID] = r
	}
	return nil
}

func TestIndexRotationEndToEnd(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	clock := pii.WithClock(func() time.Time { return now })
	e := newEnv(t, clock)
	tb := &table{rows: map[string]SearchPerson{}}
	email := func(i int) string { return fmt.Sprintf("user%d@example.com", i%5) }
	for i := range 10 {
		r := sealedPerson(t, e.p, samplePerson(fmt.Sprintf("p%02d", i), email(i)))
		tb.rows[r.ID] = r
	}
	v, err := e.p.RotateIndexKey(ctx)
	if err != nil || v != 2 {
		t.Fatalf("RotateIndexKey = %d, %v", v, err)
	}
	// Until the activation time (the default delay: the cache TTL plus
	// the clock skew margin), Seal writes v1 and lookups ask for both.
	activeAt := now.Add(pii.DefaultCacheTTL + pii.IndexKeyClockSkew)
	if vs, writing := e.p.IndexKeyVersions(); !slices.Equal(vs, []uint32{2, 1}) || writing != 1 {
		t.Fatalf("IndexKeyVersions before activation = %v, %d; want [2 1], 1", vs, writing)
	}
	wantStatus := []pii.IndexKeyInfo{{Version: 2, ActiveAt: activeAt}, {Version: 1, Writing: true}}
	if st := e.p.IndexKeyStatus(); len(st) != 2 || st[0].Version != 2 || !st[0].ActiveAt.Equal(activeAt) || st[0].Writing ||
		st[1].Version != 1 || !st[1].ActiveAt.IsZero() || !st[1].Writing {
		t.Fatalf("IndexKeyStatus = %+v, want %+v", st, wantStatus)
	}
	now = now.Add(pii.DefaultCacheTTL) // late in the delay: still v1
	if r := sealedPerson(t, e.p, samplePerson("pending", email(0))); !strings.HasPrefix(r.EmailIdx, "v1:") {
		t.Fatalf("Seal before activation wrote %q", r.EmailIdx)
	}
	if terms, _ := tb.lookup(t, e.p, email(0)); len(terms) != 2 {
		t.Fatalf("lookup before activation asks for %q, want both versions", terms)
	}
	// Re-indexing now would write v1 again: refused, nothing fetched.
	fetched := false
	_, err = pii.ReindexAll(ctx, e.p, func(context.Context, string, int) ([]SearchPerson, string, error) {
		fetched = true
		return nil, "", nil
	}, tb.save, pii.ReindexOptions{})
	var notActive *pii.IndexKeyNotActiveError
	if !errors.As(err, &notActive) || !errors.Is(err, pii.ErrIndexKeyNotActive) || notActive.Version != 2 ||
		!notActive.ActiveAt.Equal(activeAt) || fetched {
		t.Fatalf("ReindexAll before activation = %v (fetched: %v), want an IndexKeyNotActiveError for v2 at %v", err, fetched, activeAt)
	}
	// v1 is what Seal writes: it cannot be retired yet.
	if err := e.p.RetireIndexKey(ctx, 1); !errors.Is(err, pii.ErrIndexKeyVersion) {
		t.Fatalf("retiring the written version: %v", err)
	}
	now = activeAt
	if vs, writing := e.p.IndexKeyVersions(); !slices.Equal(vs, []uint32{2, 1}) || writing != 2 {
		t.Fatalf("IndexKeyVersions at activation = %v, %d; want [2 1], 2", vs, writing)
	}
	for i := 10; i < 20; i++ {
		r := sealedPerson(t, e.p, samplePerson(fmt.Sprintf("p%02d", i), email(i)))
		if !strings.HasPrefix(r.EmailIdx, "v2:") {
			t.Fatalf("Seal after rotation wrote %q", r.EmailIdx)
		}
		tb.rows[r.ID] = r
	}
	ciphertexts := map[string]string{}
	for id, r := range tb.rows {
		ciphertexts[id] = r.Email
	}
	// Half at v1, half at v2: every lookup asks for both and finds every row.
	for k := range 5 {
		terms, found := tb.lookup(t, e.p, strings.ToUpper(email(k)))
		if len(terms) != 2 || !strings.HasPrefix(terms[0], "v2:") || !strings.HasPrefix(terms[1], "v1:") {
			t.Fatalf("terms during rotation = %q", terms)
		}
		if len(found) != 4 {
			t.Fatalf("lookup of %s found %d rows, want 4", email(k), len(found))
		}
	}

	// ReindexAll, interrupted at the second batch, then resumed.
	failOnce := true
	var seen []pii.ReindexProgress
	save := func(ctx context.Context, recs []SearchPerson) error {
		if failOnce && recs[0].ID >= "p06" {
			failOnce = false
			return errors.New("database went away")
		}
		return tb.save(ctx, recs)
	}
	prog, err := pii.ReindexAll(ctx, e.p, tb.fetch, save, pii.ReindexOptions{BatchSize: 6, Progress: func(p pii.ReindexProgress) { seen = append(seen, p) }})
	if err == nil || prog.Done != 6 || prog.After != "p05" || prog.Changed != 6 {
		t.Fatalf("interrupted ReindexAll = %+v, %v", prog, err)
	}
	prog, err = pii.ReindexAll(ctx, e.p, tb.fetch, save, pii.ReindexOptions{BatchSize: 6, After: prog.After, Progress: func(p pii.ReindexProgress) { seen = append(seen, p) }})
	if err != nil || prog.Done != 14 || prog.Changed != 4 {
		t.Fatalf("resumed ReindexAll = %+v, %v (want 14 done, 4 changed: rows p06..p09)", prog, err)
	}
	if len(seen) != 4 || seen[len(seen)-1] != prog {
		t.Errorf("progress reports = %+v", seen)
	}
	// The retirement scan: nothing at v1 is left; ciphertexts untouched.
	for id, r := range tb.rows {
		if v, err := pii.IndexTermVersion(r.EmailIdx); err != nil || v != 2 {
			t.Errorf("%s: term version %d, %v after re-index", id, v, err)
		}
		if r.Email != ciphertexts[id] {
			t.Errorf("%s: Reindex changed the ciphertext", id)
		}
	}
	if err := e.p.RetireIndexKey(ctx, 2); !errors.Is(err, pii.ErrIndexKeyVersion) {
		t.Errorf("retiring the newest version: %v", err)
	}
	if err := e.p.RetireIndexKey(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.p.RetireIndexKey(ctx, 1); !errors.Is(err, pii.ErrIndexKeyVersion) {
		t.Errorf("retiring a retired version: %v", err)
	}
	for k := range 5 {
		terms, found := tb.lookup(t, e.p, email(k))
		if len(terms) != 1 || len(found) != 4 {
			t.Fatalf("after retirement: %d terms, %d rows; want 1 and 4", len(terms), len(found))
		}
	}
	// A new Protector (a restarted process) sees the same versions.
	if vs, writing := e.protector(t, clock).IndexKeyVersions(); !slices.Equal(vs, []uint32{2}) || writing != 2 {
		t.Errorf("new Protector: %v, %d", vs, writing)
	}
	if _, err := pii.IndexTermVersion("not a term"); err == nil || strings.Contains(err.Error(), "not a term") {
		t.Errorf("IndexTermVersion of garbage: %v", err)
	}
}

// The gap a rotation must not open: a process that has not read the new
// version yet does not ask for it, so no one may write it before every
// process has. Two Protectors on one store, the second created before the
// rotation and not refreshed: at every step, every lookup from either one
// finds every row.
func TestIndexRotationNoFalseNegatives(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	const ttl = time.Minute
	opts := []pii.Option{pii.WithClock(func() time.Time { return now }), pii.WithKeyCache(100, ttl)}
	e := newEnv(t, opts...)
	rotator, stale := e.p, e.protector(t, opts...)
	tb := &table{rows: map[string]SearchPerson{}}
	emails := map[string]string{} // row ID -> plaintext email, the truth
	email := func(i int) string { return fmt.Sprintf("user%d@example.com", i%3) }
	n := 0
	seal := func(p *pii.Protector, wantVersion string) {
		t.Helper()
		id := fmt.Sprintf("r%02d", n)
		r := sealedPerson(t, p, samplePerson(id, email(n)))
		if !strings.HasPrefix(r.EmailIdx, wantVersion+":") {
			t.Fatalf("%s written with %q, want %s", id, r.EmailIdx, wantVersion)
		}
		tb.rows[id], emails[id] = r, email(n)
		n++
	}
	check := func(step string, wantTerms map[*pii.Protector]int) {
		t.Helper()
		for _, p := range []*pii.Protector{rotator, stale} {
			for k := range 3 {
				terms, found := tb.lookup(t, p, email(k))
				if w := wantTerms[p]; len(terms) != w {
					t.Fatalf("%s: %d terms, want %d", step, len(terms), w)
				}
				var got, want []string
				for _, r := range found {
					got = append(got, r.ID)
				}
				for id, em := range emails {
					if em == email(k) {
						want = append(want, id)
					}
				}
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: lookup of %s by the %s Protector found %v, want %v",
						step, email(k), map[bool]string{true: "rotating", false: "stale"}[p == rotator], got, want)
				}
			}
		}
	}
	for range 3 {
		seal(rotator, "v1")
		seal(stale, "v1")
	}
	check("before rotation", map[*pii.Protector]int{rotator: 1, stale: 1})

	if _, err := rotator.RotateIndexKey(ctx); err != nil {
		t.Fatal(err)
	}
	activeAt := now.Add(ttl + pii.IndexKeyClockSkew)

	// Within the stale Protector's TTL: it neither knows nor asks for v2,
	// and nobody writes v2.
	now = now.Add(ttl / 2)
	seal(rotator, "v1")
	check("within the TTL", map[*pii.Protector]int{rotator: 2, stale: 1})
	if vs, _ := stale.IndexKeyVersions(); !slices.Equal(vs, []uint32{1}) {
		t.Fatalf("the stale Protector was refreshed early (%v): the test does not test the gap", vs)
	}

	// Past its TTL: it reads the new global keys and asks for both, and
	// still writes v1.
	now = now.Add(ttl/2 + time.Second)
	check("after the TTL", map[*pii.Protector]int{rotator: 2, stale: 2})
	seal(stale, "v1")
	seal(rotator, "v1")
	if vs, writing := stale.IndexKeyVersions(); !slices.Equal(vs, []uint32{2, 1}) || writing != 1 {
		t.Fatalf("stale Protector after the TTL: %v, %d", vs, writing)
	}
	check("after the TTL, new rows", map[*pii.Protector]int{rotator: 2, stale: 2})

	// Activation: everyone writes v2, everyone asks for both.
	now = activeAt
	seal(rotator, "v2")
	seal(stale, "v2")
	check("after activation", map[*pii.Protector]int{rotator: 2, stale: 2})

	// Re-index, retire v1: the stale Protector asks for v1 until its TTL
	// passes, and finds everything throughout.
	if _, err := pii.ReindexAll(ctx, rotator, tb.fetch, tb.save, pii.ReindexOptions{}); err != nil {
		t.Fatal(err)
	}
	check("after re-index", map[*pii.Protector]int{rotator: 2, stale: 2})
	if err := rotator.RetireIndexKey(ctx, 1); err != nil {
		t.Fatal(err)
	}
	seal(rotator, "v2")
	check("after retirement", map[*pii.Protector]int{rotator: 1, stale: 2})
	now = now.Add(ttl + time.Second)
	check("after retirement and the TTL", map[*pii.Protector]int{rotator: 1, stale: 1})
}

// The control for the test above: with no activation delay (the option
// for a single process), a process that has not read the new version
// misses the rows written with it until its TTL passes. This is what the
// default delay prevents.
func TestIndexRotationWithoutDelayMissesInOtherProcess(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	opts := []pii.Option{pii.WithClock(func() time.Time { return now }), pii.WithKeyCache(100, time.Minute)}
	e := newEnv(t, append(opts, pii.WithIndexKeyActivationDelay(0))...)
	stale := e.protector(t, opts...)
	tb := &table{rows: map[string]SearchPerson{}}
	if _, err := e.p.RotateIndexKey(ctx); err != nil {
		t.Fatal(err)
	}
	if vs, writing := e.p.IndexKeyVersions(); !slices.Equal(vs, []uint32{2, 1}) || writing != 2 {
		t.Fatalf("no delay: %v, %d; want v2 written at once", vs, writing)
	}
	r := sealedPerson(t, e.p, samplePerson("a", "a@example.com"))
	tb.rows[r.ID] = r
	if !strings.HasPrefix(r.EmailIdx, "v2:") {
		t.Fatalf("no delay: Seal wrote %q", r.EmailIdx)
	}
	if _, found := tb.lookup(t, stale, "a@example.com"); len(found) != 0 {
		t.Fatalf("the stale Protector found the v2 row: the gap this test shows is not there")
	}
	now = now.Add(time.Minute + time.Second)
	if _, found := tb.lookup(t, stale, "a@example.com"); len(found) != 1 {
		t.Fatalf("after its TTL the stale Protector still misses the row")
	}
	// The option refuses a negative delay.
	if _, err := pii.New(ctx, e.kek, e.store, pii.WithIndexKeyActivationDelay(-time.Second)); err == nil {
		t.Error("a negative activation delay was accepted")
	}
}

// Rotating again before the previous version is active never activates
// the newer one sooner; the older pending version can be retired, the
// written one cannot.
func TestIndexRotateTwiceWhilePending(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	opts := []pii.Option{pii.WithClock(func() time.Time { return now }), pii.WithKeyCache(100, time.Minute)}
	e := newEnv(t, opts...)
	if _, err := e.p.RotateIndexKey(ctx); err != nil {
		t.Fatal(err)
	}
	quick := e.protector(t, append(opts, pii.WithIndexKeyActivationDelay(0))...)
	if v, err := quick.RotateIndexKey(ctx); err != nil || v != 3 {
		t.Fatalf("second rotation = %d, %v", v, err)
	}
	st := quick.IndexKeyStatus()
	if len(st) != 3 || !st[0].ActiveAt.Equal(st[1].ActiveAt) || !st[2].Writing {
		t.Fatalf("v3 must not activate before v2: %+v", st)
	}
	if err := quick.RetireIndexKey(ctx, 1); !errors.Is(err, pii.ErrIndexKeyVersion) {
		t.Errorf("retiring the written v1: %v", err)
	}
	if err := quick.RetireIndexKey(ctx, 2); err != nil {
		t.Errorf("retiring the pending, never written v2: %v", err)
	}
	if r := sealedPerson(t, quick, samplePerson("a", "a@example.com")); !strings.HasPrefix(r.EmailIdx, "v1:") {
		t.Errorf("Seal wrote %q before any newer version is active", r.EmailIdx)
	}
	now = now.Add(time.Minute + pii.IndexKeyClockSkew)
	if r := sealedPerson(t, quick, samplePerson("a", "a@example.com")); !strings.HasPrefix(r.EmailIdx, "v3:") {
		t.Errorf("Seal wrote %q after activation", r.EmailIdx)
	}
}

// A store whose global keys predate index keys gains version 1 on first use.
func TestIndexOldStoreGainsIndexKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := pii.DropIndexKeys(ctx, e.kek, e.store); err != nil {
		t.Fatal(err)
	}
	p := e.protector(t)
	if vs, newest := p.IndexKeyVersions(); vs != nil || newest != 0 {
		t.Fatalf("legacy store: %v, %d", vs, newest)
	}
	other := e.protector(t)
	r := sealedPerson(t, p, samplePerson("a", "a@example.com"))
	if !strings.HasPrefix(r.EmailIdx, "v1:") {
		t.Fatalf("first Seal on a legacy store: %q", r.EmailIdx)
	}
	// Another process created at the same time upgrades to the same key.
	terms, err := pii.IndexTerms[SearchPerson](ctx, other, "EmailIdx", "a@example.com")
	if err != nil || !slices.Equal(terms, []string{r.EmailIdx}) {
		t.Fatalf("other Protector: %q, %v", terms, err)
	}
}
