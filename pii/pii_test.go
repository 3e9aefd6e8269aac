package pii_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Address struct {
	Street string `pii:"encrypt"`
	City   string // not personal enough to encrypt
	Zip    string `pii:"encrypt,name=postcode"`
}

type Phone struct {
	Kind   string
	Number string `pii:"encrypt"`
}

type Email string

type Customer struct {
	ID      string            `pii:"subject"`
	Name    string            `pii:"encrypt"`
	Email   Email             `pii:"encrypt,deterministic"`
	Notes   []byte            `pii:"encrypt"`
	Nick    *string           `pii:"encrypt"`
	Aliases []string          `pii:"encrypt"`
	Pair    [2]string         `pii:"encrypt"`
	Labels  map[string]string `pii:"encrypt"`
	Home    Address
	Work    *Address
	Phones  []Phone
	ByKind  map[string]Phone
	Tier    int
	Skipped string `pii:"-"`
}

type env struct {
	kek   *kmstest.KEK
	store *memory.Store
	p     *pii.Protector
}

func newEnv(t testing.TB, opts ...pii.Option) *env {
	t.Helper()
	e := &env{kek: kmstest.New("test:1"), store: memory.New()}
	e.p = e.protector(t, opts...)
	return e
}

// protector returns another Protector on the same KEK and store, as another
// process would have.
func (e *env) protector(t testing.TB, opts ...pii.Option) *pii.Protector {
	t.Helper()
	p, err := pii.New(context.Background(), e.kek, e.store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func sampleCustomer(id string) Customer {
	return Customer{
		ID:      id,
		Name:    "Ada Lovelace",
		Email:   "ada@example.com",
		Notes:   []byte("prefers email"),
		Nick:    ptr("Countess"),
		Aliases: []string{"A. A. Lovelace", "", "Ada King"},
		Pair:    [2]string{"first", "second"},
		Labels:  map[string]string{"vip": "yes", "empty": ""},
		Home:    Address{Street: "12 St James's Square", City: "London", Zip: "SW1Y 4JH"},
		Work:    &Address{Street: "Analytical Engine Lane", City: "London", Zip: "EC1"},
		Phones:  []Phone{{Kind: "mobile", Number: "+44 7700 900123"}, {Kind: "home", Number: "+44 20 7946 0000"}},
		ByKind:  map[string]Phone{"fax": {Kind: "fax", Number: "+44 20 7946 0001"}},
		Tier:    3,
		Skipped: "left alone",
	}
}

func deepCopy(c Customer) Customer {
	out := c
	out.Notes = cloneSlice(c.Notes)
	if c.Nick != nil {
		out.Nick = ptr(*c.Nick)
	}
	out.Aliases = cloneSlice(c.Aliases)
	out.Labels = cloneMap(c.Labels)
	if c.Work != nil {
		out.Work = ptr(*c.Work)
	}
	out.Phones = cloneSlice(c.Phones)
	out.ByKind = cloneMap(c.ByKind)
	return out
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T{}, s...)
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func isSealed(s string) bool {
	return strings.HasPrefix(s, "fc1a.") || strings.HasPrefix(s, "fc1d.")
}

func TestSealOpenRoundTripEveryShape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	orig := sampleCustomer("cust-1")
	c := deepCopy(orig)
	sharedWork := c.Work
	sharedPhones := c.Phones

	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	sealed := []string{c.Name, string(c.Email), *c.Nick, c.Aliases[0], c.Aliases[2], c.Pair[0], c.Pair[1],
		c.Labels["vip"], c.Home.Street, c.Home.Zip, c.Work.Street, c.Work.Zip, c.Phones[0].Number,
		c.Phones[1].Number, c.ByKind["fax"].Number}
	for i, s := range sealed {
		if !isSealed(s) {
			t.Errorf("value %d not sealed: %.20q", i, s)
		}
	}
	if !strings.HasPrefix(string(c.Email), "fc1d.") {
		t.Errorf("deterministic field sealed as %.5q", c.Email)
	}
	if c.Notes[0] != 0xFC || c.Notes[1] != 1 || c.Notes[2] != 'a' {
		t.Errorf("[]byte field not in binary form: % x", c.Notes[:3])
	}
	// Left alone: untagged, skipped, empty values, map keys, subject.
	if c.ID != "cust-1" || c.Home.City != "London" || c.Phones[0].Kind != "mobile" || c.Tier != 3 ||
		c.Skipped != "left alone" || c.Aliases[1] != "" || c.Labels["empty"] != "" {
		t.Errorf("Seal changed fields it should not have: %+v", c)
	}
	// Copy-on-write: memory the caller shared is not modified.
	if sharedWork.Street != orig.Work.Street || sharedPhones[0].Number != orig.Phones[0].Number {
		t.Error("Seal wrote through a shared pointer or slice")
	}

	if err := e.p.Open(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, orig) {
		t.Errorf("Open(Seal(c)) != c:\n got  %+v\n want %+v", c, orig)
	}
}

func TestSealSharedPointerNotSealedTwice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	addr := &Address{Street: "1 Shared Road", Zip: "S1"}
	c := Customer{ID: "cust-shared", Work: addr, Phones: []Phone{{Number: "1"}}}
	c.Home = *addr
	c2 := c // shares addr and the Phones backing array
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Seal(ctx, &c2); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Customer{&c, &c2} {
		if err := e.p.Open(ctx, v); err != nil {
			t.Fatal(err)
		}
		if v.Work.Street != "1 Shared Road" || v.Phones[0].Number != "1" {
			t.Errorf("shared values did not round-trip: %+v", v)
		}
	}
	if addr.Street != "1 Shared Road" {
		t.Error("the shared Address was modified")
	}
}

func TestDeterministic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b, other := Customer{ID: "x", Email: "same@example.com"}, Customer{ID: "x", Email: "same@example.com"}, Customer{ID: "y", Email: "same@example.com"}
	for _, c := range []*Customer{&a, &b, &other} {
		if err := e.p.Seal(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if a.Email != b.Email {
		t.Error("deterministic: equal plaintexts of one subject gave different ciphertexts")
	}
	if a.Email == other.Email {
		t.Error("deterministic: two subjects gave equal ciphertexts; keys are not per subject")
	}
	n1, n2 := Customer{ID: "x", Name: "same"}, Customer{ID: "x", Name: "same"}
	e.p.Seal(ctx, &n1)
	e.p.Seal(ctx, &n2)
	if n1.Name == n2.Name {
		t.Error("randomized: equal plaintexts gave equal ciphertexts")
	}
}

// Order holds data of two subjects: the customer and the courier.
type Order struct {
	Ref      string `pii:"subject"`
	Note     string `pii:"encrypt"`
	Customer Customer
	Courier  *Courier
}

type Courier struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
	Van  Van
}

type Van struct {
	Plate string `pii:"encrypt"` // the courier's, through the nearest subject
}

func TestNestedSubjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := Order{Ref: "order-1", Note: "leave at door", Customer: Customer{ID: "cust-9", Name: "Grace"},
		Courier: &Courier{ID: "courier-7", Name: "Sam", Van: Van{Plate: "AB12 CDE"}}}
	if err := e.p.Seal(ctx, &o); err != nil {
		t.Fatal(err)
	}
	// Erase the courier: the customer's and the order's data still open,
	// the courier's (including the nested van) do not.
	if _, err := e.p.Forget(ctx, "courier-7"); err != nil {
		t.Fatal(err)
	}
	sealed := o
	err := e.p.Open(ctx, &o)
	if !errors.Is(err, pii.ErrForgotten) {
		t.Fatalf("Open after forgetting the courier = %v, want ErrForgotten", err)
	}
	var fe *pii.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "Order.Courier.") {
		t.Errorf("error path = %v, want it inside Order.Courier", err)
	}
	if !reflect.DeepEqual(o, sealed) {
		t.Error("failed Open changed the value")
	}
	p := e.protector(t, pii.WithErasedPlaceholder("[erased]"))
	if err := p.Open(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if o.Note != "leave at door" || o.Customer.Name != "Grace" || o.Courier.Name != "[erased]" || o.Courier.Van.Plate != "[erased]" {
		t.Errorf("Open with placeholder = %+v / %+v", o, *o.Courier)
	}
}

type Base struct {
	ID    string `pii:"subject"`
	Email string `pii:"encrypt"`
}

type Audit struct {
	Actor string `pii:"encrypt"`
}

type Account struct {
	Base
	*Audit
	Display string `pii:"encrypt"`
}

func TestEmbeddedStructs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	audit := &Audit{Actor: "admin"}
	a := Account{Base: Base{ID: "acct-1", Email: "e@example.com"}, Audit: audit, Display: "E"}
	if err := e.p.Seal(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if !isSealed(a.Email) || !isSealed(a.Actor) || !isSealed(a.Display) {
		t.Fatalf("promoted fields not sealed: %+v %+v", a, *a.Audit)
	}
	if audit.Actor != "admin" {
		t.Error("Seal wrote through the embedded pointer")
	}
	if err := e.p.Open(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if a.Email != "e@example.com" || a.Actor != "admin" || a.Display != "E" {
		t.Errorf("embedded round trip = %+v", a)
	}
	// Nil embedded pointer: nothing to do there.
	b := Account{Base: Base{ID: "acct-2", Email: "x"}}
	if err := e.p.Seal(ctx, &b); err != nil || b.Audit != nil {
		t.Fatalf("Seal with nil embedded pointer = %v", err)
	}
}

func TestSealAllOpenAllBatchesKeyFetches(t *testing.T) {
	e := newEnv(t, pii.WithBatchSize(10))
	ctx := context.Background()
	var cs []Customer
	for i := range 25 {
		c := sampleCustomer("bulk-" + string(rune('a'+i)))
		cs = append(cs, c)
	}
	want := make([]Customer, len(cs))
	for i := range cs {
		want[i] = deepCopy(cs[i])
	}
	e.kek.ResetCounts()
	if err := e.p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if n := e.kek.Calls(kmstest.OpEncryptBatch); n != 3 {
		t.Errorf("SealAll of 25 new subjects made %d batch wrap calls, want 3 (batches of 10)", n)
	}
	if n := e.kek.Calls(kmstest.OpEncrypt); n != 0 {
		t.Errorf("SealAll made %d single wrap calls, want 0", n)
	}

	// A fresh Protector (another process) opens them with a cold cache.
	p2 := e.protector(t, pii.WithBatchSize(10))
	e.kek.ResetCounts()
	ptrs := make([]*Customer, len(cs)+1) // the extra nil element is skipped
	for i := range cs {
		ptrs[i] = &cs[i]
	}
	if err := p2.OpenAll(ctx, &ptrs); err != nil {
		t.Fatal(err)
	}
	if n := e.kek.Calls(kmstest.OpDecryptBatch); n != 3 {
		t.Errorf("OpenAll of 25 cold subjects made %d batch unwrap calls, want 3", n)
	}
	if n := e.kek.Calls(kmstest.OpDecrypt); n != 0 {
		t.Errorf("OpenAll made %d single unwrap calls, want 0", n)
	}
	if !reflect.DeepEqual(cs, want) {
		t.Error("OpenAll(SealAll(cs)) != cs")
	}
}

func TestSealAllIsAllOrNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cs := []Customer{sampleCustomer("ok-1"), sampleCustomer(""), sampleCustomer("ok-2")}
	before := []Customer{deepCopy(cs[0]), deepCopy(cs[1]), deepCopy(cs[2])}
	err := e.p.SealAll(ctx, cs)
	if !errors.Is(err, pii.ErrNoSubject) {
		t.Fatalf("SealAll with an empty subject = %v, want ErrNoSubject", err)
	}
	var fe *pii.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "Customer[1].") {
		t.Errorf("error path = %v, want Customer[1]...", err)
	}
	if !reflect.DeepEqual(cs, before) {
		t.Error("failed SealAll changed some records")
	}
}

func TestForget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sampleCustomer("cust-forget")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	r, err := e.p.Forget(ctx, "cust-forget")
	if err != nil {
		t.Fatal(err)
	}
	if r.AlreadyErased || len(r.KeyIDs) == 0 || r.KEKID != "test:1" || r.ErasedAt.IsZero() || r.Reason != "request" {
		t.Errorf("receipt = %+v", r)
	}
	if strings.Contains(r.Subject, "cust-forget") || !strings.HasPrefix(r.Subject, "s.") {
		t.Errorf("receipt subject %q is not a keyed hash", r.Subject)
	}
	sealed := deepCopy(c)
	if err := e.p.Open(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after Forget = %v, want ErrForgotten", err)
	}
	if !reflect.DeepEqual(c, sealed) {
		t.Error("failed Open changed the value")
	}
	fresh := sampleCustomer("cust-forget")
	if err := e.p.Seal(ctx, &fresh); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Seal after Forget = %v, want ErrForgotten", err)
	}
	// Another process, cold cache: the tombstone stops it too.
	p2 := e.protector(t)
	if err := p2.Open(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open in another Protector = %v, want ErrForgotten", err)
	}
	if err := p2.Seal(ctx, &fresh); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Seal in another Protector = %v, want ErrForgotten", err)
	}
	// Idempotent.
	r2, err := e.p.Forget(ctx, "cust-forget")
	if err != nil || !r2.AlreadyErased || !r2.ErasedAt.Equal(r.ErasedAt) || len(r2.KeyIDs) != 0 {
		t.Errorf("second Forget = %+v, %v", r2, err)
	}
	// Readmit: a new key; the old data stays unreadable.
	if err := e.p.Readmit(ctx, "cust-forget"); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Seal(ctx, &fresh); err != nil {
		t.Fatalf("Seal after Readmit = %v", err)
	}
	if err := e.p.Open(ctx, &c); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("Open of pre-erasure data after Readmit = %v, want ErrAuthentication", err)
	}
}

func TestForgetUnknownSubjectBlocksFutureKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.p.Forget(ctx, "never-seen")
	if err != nil || len(r.KeyIDs) != 0 {
		t.Fatalf("Forget(unknown) = %+v, %v", r, err)
	}
	c := Customer{ID: "never-seen", Name: "x"}
	if err := e.p.Seal(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Seal after Forget of an unknown subject = %v, want ErrForgotten", err)
	}
}

func TestKMSDownFailsClosed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.kek.FailAll(kms.Classify(kms.ErrUnavailable, errors.New("connection refused")))
	c := sampleCustomer("new-subject")
	before := deepCopy(c)
	err := e.p.Seal(ctx, &c)
	if !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
		t.Fatalf("Seal with the KMS down = %v, want a retryable ErrUnavailable", err)
	}
	if !reflect.DeepEqual(c, before) {
		t.Error("Seal with the KMS down changed the value")
	}
	if recs, _ := e.store.Scan(ctx, "", 100); len(recs) != 1 { // just the global keys
		t.Errorf("Seal with the KMS down wrote %d records", len(recs)-1)
	}
	e.kek.SetFault(nil)
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Errorf("Seal once the KMS is back = %v", err)
	}
}

func TestKeyCacheServesWarmPath(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sampleCustomer("warm")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	e.kek.ResetCounts()
	for range 50 {
		if err := e.p.Open(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.kek.Items(); n != 0 {
		t.Errorf("warm Seal/Open made %d KMS calls, want 0", n)
	}
}

func TestRotateSubjectKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := sampleCustomer("rot")
	if err := e.p.Seal(ctx, &old); err != nil {
		t.Fatal(err)
	}
	newID, err := e.p.RotateSubjectKey(ctx, "rot")
	if err != nil {
		t.Fatal(err)
	}
	fresh := sampleCustomer("rot")
	if err := e.p.Seal(ctx, &fresh); err != nil {
		t.Fatal(err)
	}
	if tinkKeyID(t, fresh.Name) != newID {
		t.Errorf("after rotation Seal used key %d, want the new primary %d", tinkKeyID(t, fresh.Name), newID)
	}
	if tinkKeyID(t, old.Name) == newID {
		t.Error("old ciphertext already used the new key")
	}
	// Both open, in this process and in another.
	for _, p := range []*pii.Protector{e.p, e.protector(t)} {
		o, f := deepCopy(old), deepCopy(fresh)
		if err := p.Open(ctx, &o); err != nil || o.Name != "Ada Lovelace" {
			t.Errorf("old value after rotation: %v", err)
		}
		if err := p.Open(ctx, &f); err != nil || f.Name != "Ada Lovelace" {
			t.Errorf("new value after rotation: %v", err)
		}
	}
	if _, err := e.p.RotateSubjectKey(ctx, "nobody"); !errors.Is(err, pii.ErrKeyNotFound) {
		t.Errorf("rotate unknown subject = %v, want ErrKeyNotFound", err)
	}
}

func TestMigrationModeAndStrictDefault(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	legacy := Customer{ID: "legacy", Name: "Plain Name", Notes: []byte("plain notes")}
	if err := e.p.Open(ctx, &legacy); !errors.Is(err, pii.ErrNotSealed) {
		t.Errorf("strict Open of plaintext = %v, want ErrNotSealed", err)
	}
	sealedPart := Customer{ID: "legacy", Email: "mixed@example.com"}
	if err := e.p.Seal(ctx, &sealedPart); err != nil {
		t.Fatal(err)
	}
	legacy.Email = sealedPart.Email
	m := e.protector(t, pii.WithMigrationMode())
	if err := m.Open(ctx, &legacy); err != nil {
		t.Fatalf("migration-mode Open = %v", err)
	}
	if legacy.Name != "Plain Name" || string(legacy.Notes) != "plain notes" || legacy.Email != "mixed@example.com" {
		t.Errorf("migration-mode Open = %+v", legacy)
	}
	// Migration mode tolerates plaintext, not garbage that claims to be sealed.
	bad := Customer{ID: "legacy", Name: "fc1a.!!!"}
	if err := m.Open(ctx, &bad); !errors.Is(err, pii.ErrMalformed) {
		t.Errorf("migration-mode Open of a malformed ciphertext = %v, want ErrMalformed", err)
	}
}

func TestEncryptEmpty(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := Customer{ID: "empty", Name: "", Notes: []byte{}}
	if err := e.p.Seal(ctx, &c); err != nil || c.Name != "" || len(c.Notes) != 0 {
		t.Fatalf("default Seal of empty values = %+v, %v; want them left empty", c, err)
	}
	p := e.protector(t, pii.WithEncryptEmpty())
	if err := p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if !isSealed(c.Name) || len(c.Notes) == 0 || c.Nick != nil || c.Aliases != nil {
		t.Fatalf("WithEncryptEmpty Seal = %+v; want empties sealed, nils left nil", c)
	}
	if err := e.p.Open(ctx, &c); err != nil || c.Name != "" || len(c.Notes) != 0 || c.Notes == nil {
		t.Errorf("Open of sealed empties = %q %v, %v", c.Name, c.Notes, err)
	}
}

func TestInvalidArguments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := Customer{ID: "x"}
	var nilPtr *Customer
	s := "string"
	for _, v := range []any{nil, c, nilPtr, &s, []Customer{}, 42} {
		if err := e.p.Seal(ctx, v); !errors.Is(err, pii.ErrInvalidArgument) {
			t.Errorf("Seal(%T) = %v, want ErrInvalidArgument", v, err)
		}
		if err := e.p.Open(ctx, v); !errors.Is(err, pii.ErrInvalidArgument) {
			t.Errorf("Open(%T) = %v, want ErrInvalidArgument", v, err)
		}
	}
	for _, v := range []any{nil, c, &c, []int{1}, &s} {
		if err := e.p.SealAll(ctx, v); !errors.Is(err, pii.ErrInvalidArgument) {
			t.Errorf("SealAll(%T) = %v, want ErrInvalidArgument", v, err)
		}
	}
	if _, err := pii.New(ctx, nil, e.store); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("New(nil KEK) = %v", err)
	}
	if _, err := pii.New(ctx, e.kek, e.store, pii.WithKeyCache(0, 0)); err == nil {
		t.Error("New accepted an empty key cache")
	}
	if _, err := e.p.Forget(ctx, ""); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("Forget(\"\") = %v", err)
	}
}

type Node struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
	Next *Node
}

func TestPointerCycleIsAnErrorNotAHang(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := &Node{ID: "n", Name: "a"}
	b := &Node{ID: "n", Name: "b", Next: a}
	a.Next = b
	if err := e.p.Seal(ctx, a); !errors.Is(err, pii.ErrCycle) {
		t.Fatalf("Seal of a cycle = %v, want ErrCycle", err)
	}
	if a.Name != "a" || b.Name != "b" || a.Next != b || b.Next != a {
		t.Error("failed Seal of a cycle changed the value")
	}
	// A long list without a cycle is fine.
	head := &Node{ID: "n", Name: "0"}
	cur := head
	for i := 1; i < 200; i++ {
		cur.Next = &Node{ID: "n", Name: "x"}
		cur = cur.Next
	}
	if err := e.p.Seal(ctx, head); err != nil {
		t.Fatalf("Seal of a 200-node list = %v", err)
	}
	if err := e.p.Open(ctx, head); err != nil || head.Next.Next.Name != "x" {
		t.Fatalf("Open of a 200-node list = %v", err)
	}
}

func TestErrorsNeverHoldValues(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sampleCustomer("secret-subject-id")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	c.Name = c.Name[:len(c.Name)-4] + "AAAA"
	err := e.p.Open(ctx, &c)
	if err == nil {
		t.Fatal("Open of a tampered value succeeded")
	}
	msg := err.Error()
	for _, secret := range []string{"secret-subject-id", "Ada", "ada@", c.Name[5:15], string(c.Email)[5:15]} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
	if !strings.Contains(msg, "Customer.Name") {
		t.Errorf("error %q does not name the field", msg)
	}
}

var _ keystore.Store = (*memory.Store)(nil)

// TestBatchItemErrorLandsOnItsRecord swaps two subjects' wrapped keys in the
// store and checks that the batch unwrap of OpenAll fails for exactly those
// two: results are matched to the right subjects, and a wrapped key moved
// to another record does not unwrap.
func TestBatchItemErrorLandsOnItsRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cs := []Customer{sampleCustomer("b0"), sampleCustomer("b1"), sampleCustomer("b2")}
	if err := e.p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	recs, err := e.store.Scan(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	// Swap two subjects' wrapped keys: both must now fail to unwrap (a wrap
	// is bound to its record ID), and the third subject must not.
	p2 := e.protector(t)
	var ids []string
	for _, rec := range recs {
		if rec.ID != "fieldcrypt.global" {
			ids = append(ids, rec.ID)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("want 3 subject records, have %d", len(ids))
	}
	a, _ := e.store.Get(ctx, ids[0])
	b, _ := e.store.Get(ctx, ids[1])
	a.Wrapped, b.Wrapped = b.Wrapped, a.Wrapped
	if _, err := e.store.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	before := []Customer{deepCopy(cs[0]), deepCopy(cs[1]), deepCopy(cs[2])}
	err = p2.OpenAll(ctx, cs)
	if !errors.Is(err, kms.ErrAuthentication) {
		t.Fatalf("OpenAll with swapped wrapped keys = %v, want kms.ErrAuthentication", err)
	}
	if !reflect.DeepEqual(cs, before) {
		t.Error("failed OpenAll changed the records")
	}
	// The one record whose key was left alone still opens on its own.
	opened := 0
	for i := range cs {
		c := deepCopy(cs[i])
		if p2.Open(ctx, &c) == nil {
			opened++
			if c.Name != "Ada Lovelace" {
				t.Errorf("record %d opened to %q", i, c.Name)
			}
		}
	}
	if opened != 1 {
		t.Errorf("%d records open after swapping two keys, want exactly 1", opened)
	}
}
