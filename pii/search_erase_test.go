package pii_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// After Forget: the ciphertext is gone, the global term stays (and still
// matches a lookup), Matches drops the forgotten candidate, the subject
// index can no longer be computed, and Reindex clears the terms.
func TestIndexAfterForget(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pii.WithErasedPlaceholder("[erased]"))
	tb := &table{rows: map[string]SearchPerson{}}
	for _, id := range []string{"ada", "bob"} {
		r := sealedPerson(t, e.p, samplePerson(id, "shared@example.com"))
		tb.rows[id] = r
	}
	adaTerm, adaMine := tb.rows["ada"].EmailIdx, tb.rows["ada"].MyEmail
	if _, err := e.p.Forget(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	terms, found := tb.lookup(t, e.p, "shared@example.com")
	if !slices.Contains(terms, adaTerm) {
		t.Error("the global term of a forgotten subject is no longer asked for")
	}
	if len(found) != 1 || found[0].ID != "bob" {
		t.Fatalf("Matches after Forget = %+v; want bob only (even with a placeholder)", found)
	}
	// The search "[erased]" does not match the placeholder.
	cands := []SearchPerson{tb.rows["ada"]}
	if got, err := pii.Matches(ctx, e.p, cands, "EmailIdx", "[erased]"); err != nil || len(got) != 0 {
		t.Errorf("searching for the placeholder: %+v, %v", got, err)
	}
	if _, err := pii.SubjectIndexTerms[SearchPerson](ctx, e.p, "ada", "my_email", "shared@example.com"); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("subject index of a forgotten subject: %v", err)
	}
	if _, err := pii.SubjectIndexTerms[SearchPerson](ctx, e.p, "nobody", "my_email", "x@example.com"); !errors.Is(err, pii.ErrKeyNotFound) {
		t.Errorf("subject index of an unknown subject: %v", err)
	}
	surviving, err := pii.SurvivingFields[SearchPerson]()
	want := []string{"SearchPerson.EmailIdx", "SearchPerson.DomainIdx", "SearchPerson.NameYear", "SearchPerson.CardLast4"}
	if err != nil || !slices.Equal(surviving, want) {
		t.Errorf("SurvivingFields = %q, %v; want %q", surviving, err, want)
	}
	// Reindex clears the index fields of the forgotten subject, re-indexes
	// the others, and opens nothing in place.
	recs := []SearchPerson{tb.rows["ada"], tb.rows["bob"]}
	n, err := pii.Reindex(ctx, e.p, recs)
	if err != nil || n != 1 {
		t.Fatalf("Reindex = %d, %v; want 1 changed", n, err)
	}
	if recs[0].EmailIdx != "" || recs[0].NameYear != nil || recs[0].MyEmail != "" || recs[0].Email != tb.rows["ada"].Email {
		t.Errorf("forgotten record after Reindex: %+v", recs[0])
	}
	if recs[1].EmailIdx != tb.rows["bob"].EmailIdx || recs[1].Email != tb.rows["bob"].Email {
		t.Errorf("Reindex changed an up-to-date record: %+v", recs[1])
	}
	if adaMine == "" {
		t.Error("no subject term was written")
	}
}

// Reindex needs sealed records and leaves them sealed; a record it cannot
// open fails the call, with records before it done.
func TestReindexErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	good := sealedPerson(t, e.p, samplePerson("ada", "ada@example.com"))
	plain := samplePerson("bob", "bob@example.com")
	recs := []*SearchPerson{&good, nil, &plain}
	n, err := pii.Reindex(ctx, e.p, recs)
	var fe *pii.FieldError
	if !errors.As(err, &fe) || fe.Op != "reindex" || !errors.Is(err, pii.ErrNotSealed) || n != 0 {
		t.Fatalf("Reindex of a plaintext record = %d, %v", n, err)
	}
	if !reflect.DeepEqual(plain, samplePerson("bob", "bob@example.com")) {
		t.Error("a failed Reindex changed the record")
	}
}

// Seal with indexes and IndexTerms from many goroutines, while the key
// rotates.
func TestIndexConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				r := samplePerson([]string{"a", "b", "c"}[i%3], "x@example.com")
				if err := e.p.Seal(ctx, &r); err != nil {
					t.Error(err)
					return
				}
				if _, err := pii.IndexTerms[SearchPerson](ctx, e.p, "EmailIdx", "x@example.com"); err != nil {
					t.Error(err)
					return
				}
				if g == 0 && i == 10 {
					if _, err := e.p.RotateIndexKey(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}
