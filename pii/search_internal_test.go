package pii

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

type pinnedIndex struct {
	_        struct{} `pii:"scope=pinned_scope"`
	ID       string   `pii:"subject"`
	Last     string   `pii:"encrypt,name=last_v1"`
	Born     string   `pii:"encrypt"`
	NameYear string   `pii:"index=Last+Born,transform=fold|first4,bits=20,name=ny"`
	Mine     []byte   `pii:"index=Last,scope=subject"`
}

type pinnedOuter struct {
	ID     string `pii:"subject"`
	People []pinnedIndex
}

// The key derivation name is what the doc says: the type's scope, the
// sources' stable names joined by '+', the index name; subject indexes use
// the subject's PRF-derived root as version 1. Changing any of it would
// strand every stored term.
func TestIndexDerivationName(t *testing.T) {
	ctx := context.Background()
	p, err := New(ctx, kmstest.New("test:1"), memory.New())
	if err != nil {
		t.Fatal(err)
	}
	outer := pinnedOuter{ID: "ada", People: []pinnedIndex{{ID: "ada", Last: "Lovelace", Born: "1815-12-10"}, {ID: "ada", Last: "Byron", Born: "1788"}}}
	if err := p.SealAll(ctx, []*pinnedOuter{&outer}); err != nil {
		t.Fatal(err)
	}
	roots := p.ring.search.roots.Load()
	def := blindindex.Definition{Inputs: []blindindex.Transform{mustTransform(t, "fold"), mustTransform(t, "first4")}, Bits: 20}
	k, err := blindindex.NewKey(roots.roots[1], 1, blindindex.Name{Scope: "pinned_scope", Field: "last_v1+Born", Index: "ny"}, def)
	if err != nil {
		t.Fatal(err)
	}
	for i, person := range []struct{ last, born string }{{"LOVELACE", "1815"}, {"byron", "1788-01-22"}} {
		want, _ := k.Term(person.last, person.born)
		if got := outer.People[i].NameYear; got != want.String() {
			t.Errorf("People[%d]: term %s, want %s", i, got, want)
		}
	}
	keys, err := p.ring.get(ctx, "ada", false)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := keys.SubjectIndexRoot()
	root, _ := blindindex.NewRootKey(raw)
	sk, _ := blindindex.NewKey(root, 1, blindindex.Name{Scope: "pinned_scope", Field: "last_v1", Index: "Mine"}, blindindex.Definition{Inputs: make([]blindindex.Transform, 1), Bits: blindindex.DefaultBits})
	want, _ := sk.Term("Lovelace")
	if string(outer.People[0].Mine) != string(want.Bytes()) {
		t.Errorf("subject index %x, want %x", outer.People[0].Mine, want.Bytes())
	}
	// Nested structs are queried through their own type.
	terms, err := IndexTerms[pinnedIndex](ctx, p, "ny", "Byron", "1788")
	if err != nil || len(terms) != 1 || terms[0] != outer.People[1].NameYear {
		t.Errorf("IndexTerms of the nested type = %q, %v", terms, err)
	}
}

func mustTransform(t *testing.T, spec string) blindindex.Transform {
	t.Helper()
	tr, err := blindindex.ParseTransform(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// The warm path prepares each keyring once per set of live versions.
func TestIndexKeyringCachedPerVersionSet(t *testing.T) {
	ctx := context.Background()
	p, err := New(ctx, kmstest.New("test:1"), memory.New())
	if err != nil {
		t.Fatal(err)
	}
	seal := func() {
		r := pinnedIndex{ID: "a", Last: "x", Born: "y"}
		if err := p.Seal(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	count := func(ir *indexRoots) int {
		n := 0
		ir.rings.Range(func(any, any) bool { n++; return true })
		return n
	}
	seal()
	first := p.ring.search.roots.Load()
	kr1, _ := first.rings.Load(ringKey{&planFor(typeOf[pinnedIndex]()).st.indexes[0], "pinned_scope"})
	for range 5 {
		seal()
	}
	kr2, _ := first.rings.Load(ringKey{&planFor(typeOf[pinnedIndex]()).st.indexes[0], "pinned_scope"})
	if p.ring.search.roots.Load() != first || count(first) != 1 || kr1 == nil || kr1 != kr2 {
		t.Fatalf("keyring rebuilt on a warm Seal (snapshot kept: %v, rings: %d)", p.ring.search.roots.Load() == first, count(first))
	}
	if _, err := p.RotateIndexKey(ctx); err != nil {
		t.Fatal(err)
	}
	seal()
	if now := p.ring.search.roots.Load(); now == first || count(now) != 1 {
		t.Fatal("rotation did not give a fresh snapshot with its own keyrings")
	}
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// A rotated version is never active sooner than the delay; with no delay
// it is active at once.
func TestIndexActivationTime(t *testing.T) {
	at := func(sec, nsec int64) time.Time { return time.Unix(sec, nsec) }
	for _, c := range []struct {
		now   time.Time
		delay time.Duration
		want  int64
	}{
		{at(1000, 0), 10 * time.Second, 1010},
		{at(1000, 1), 10 * time.Second, 1011},
		{at(1000, 999_999_999), 0, 1000},
		{at(1000, 0), 0, 1000},
		{at(-5, 0), 0, 0},
	} {
		if got := activationTime(c.now, c.delay); got != c.want {
			t.Errorf("activationTime(%v, %v) = %d, want %d", c.now, c.delay, got, c.want)
		}
	}
}
