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
	e := newEnv(t)
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
	if vs, newest := e.p.IndexKeyVersions(); !slices.Equal(vs, []uint32{2, 1}) || newest != 2 {
		t.Fatalf("IndexKeyVersions = %v, %d", vs, newest)
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
	if vs, newest := e.protector(t).IndexKeyVersions(); !slices.Equal(vs, []uint32{2}) || newest != 2 {
		t.Errorf("new Protector: %v, %d", vs, newest)
	}
	if _, err := pii.IndexTermVersion("not a term"); err == nil || strings.Contains(err.Error(), "not a term") {
		t.Errorf("IndexTermVersion of garbage: %v", err)
	}
}

// A Protector created before another one rotated the index key keeps its
// snapshot for at most the key cache TTL, then writes the new version and
// asks for both.
func TestIndexProtectorCreatedBeforeRotation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	old := e.protector(t, pii.WithClock(clock), pii.WithKeyCache(100, time.Minute))
	r := sealedPerson(t, old, samplePerson("a", "a@example.com"))
	if !strings.HasPrefix(r.EmailIdx, "v1:") {
		t.Fatalf("before rotation: %q", r.EmailIdx)
	}
	if _, err := e.p.RotateIndexKey(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	r = sealedPerson(t, old, samplePerson("a", "b@example.com")) // a cached subject: no key store read
	if !strings.HasPrefix(r.EmailIdx, "v1:") {
		t.Fatalf("within the TTL the old snapshot is used: %q", r.EmailIdx)
	}
	now = now.Add(31 * time.Second)
	r = sealedPerson(t, old, samplePerson("a", "c@example.com")) // found in the store: no refresh on a miss
	if !strings.HasPrefix(r.EmailIdx, "v2:") {
		t.Fatalf("after the TTL the old Protector still writes %q", r.EmailIdx)
	}
	terms, err := pii.IndexTerms[SearchPerson](ctx, old, "EmailIdx", "c@example.com")
	if err != nil || len(terms) != 2 {
		t.Fatalf("old Protector asks for %q, %v; want both versions", terms, err)
	}
	// Retirement reaches it the same way.
	if err := e.p.RetireIndexKey(ctx, 1); err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Second)
	if terms, _ := pii.IndexTerms[SearchPerson](ctx, old, "EmailIdx", "c@example.com"); len(terms) != 1 {
		t.Fatalf("after retirement and the TTL: %q", terms)
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
