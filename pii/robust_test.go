package pii_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// ---- L1: deep and shared values ----

// TestReviewL1DeepListIsTooDeepNotACrash: a list of a million nodes used to
// overflow the stack, a fatal error no recover catches. It must fail with
// ErrTooDeep, naming where, and change nothing.
func TestReviewL1DeepListIsTooDeepNotACrash(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 1_000_000
	head := &Node{ID: "n", Name: "first"}
	cur := head
	for range n - 1 {
		cur.Next = &Node{ID: "n", Name: "x"}
		cur = cur.Next
	}
	err := e.p.Seal(ctx, head)
	if !errors.Is(err, pii.ErrTooDeep) {
		t.Fatalf("Seal of a %d-node list = %v, want ErrTooDeep", n, err)
	}
	var fe *pii.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "Node.Next.Next") || len(err.Error()) > 4096 {
		t.Errorf("error %.200q: want a *FieldError with a path into the list, of bounded length", err)
	}
	if head.Name != "first" || head.Next.Name != "x" {
		t.Error("failed Seal changed the list")
	}
	if err := e.p.Open(ctx, head); !errors.Is(err, pii.ErrTooDeep) {
		t.Errorf("Open of a %d-node list = %v, want ErrTooDeep", n, err)
	}
	// Just within the limit is fine (the root struct is not a level).
	short := &Node{ID: "n", Name: "0"}
	cur = short
	for range pii.MaxDepth {
		cur.Next = &Node{ID: "n", Name: "x"}
		cur = cur.Next
	}
	if err := e.p.Seal(ctx, short); err != nil {
		t.Fatalf("Seal of a list of MaxDepth+1 nodes = %v", err)
	}
	if err := e.p.Open(ctx, short); err != nil || cur.Name != "x" || short.Next.Name != "x" {
		t.Fatalf("Open of a list of MaxDepth+1 nodes = %v", err)
	}
	for cur = short; cur.Next != nil; cur = cur.Next { // Seal and Open attached copies
	}
	cur.Next = &Node{ID: "n", Name: "x"}
	if err := e.p.Seal(ctx, short); !errors.Is(err, pii.ErrTooDeep) {
		t.Fatalf("Seal of a list of MaxDepth+2 nodes = %v, want ErrTooDeep", err)
	}
}

// DAG is a node whose two children are usually the same node: a value of
// depth d has d distinct nodes but 2^d paths.
type DAG struct {
	ID          string `pii:"subject"`
	Name        string `pii:"encrypt"`
	Left, Right *DAG
}

func newDAG(depth int) *DAG {
	var next *DAG
	for i := depth; i > 0; i-- {
		next = &DAG{ID: "dag", Name: "level", Left: next, Right: next}
	}
	return next
}

// TestReviewL1SharedDAGIsWalkedOncePerNode counts the work of Seal on a DAG
// of 20 shared levels: one value to seal and two pointer walks per level
// (both children share one copy), not 2^20.
func TestReviewL1SharedDAGIsWalkedOncePerNode(t *testing.T) {
	const depth = 20
	jobs, walked, err := pii.CollectStats(newDAG(depth))
	if err != nil {
		t.Fatal(err)
	}
	if jobs != depth || walked != depth-1 {
		t.Errorf("a DAG of %d shared levels made %d jobs and walked %d pointers, want %d and %d", depth, jobs, walked, depth, depth-1)
	}
}

// TestReviewL1SharedDAG40LevelsSealsAndOpens: 40 levels (2^40 paths, about
// 12 days of walking before the fix) seal and open, and what was shared
// stays shared.
func TestReviewL1SharedDAG40LevelsSealsAndOpens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const depth = 40
	root := newDAG(depth)
	orig := root.Left
	if jobs, _, err := pii.CollectStats(root); err != nil || jobs != depth {
		t.Fatalf("CollectStats = %d jobs, %v; want %d", jobs, err, depth)
	}
	if err := e.p.Seal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if root.Left == orig || orig.Name != "level" {
		t.Error("Seal wrote through a shared pointer instead of attaching a copy")
	}
	check := func(when string, sealed bool) {
		levels := 0
		for n := root; n != nil; n = n.Left {
			levels++
			if n.Left != n.Right {
				t.Fatalf("%s: level %d: the children are no longer one node", when, levels)
			}
			if isSealed(n.Name) != sealed {
				t.Fatalf("%s: level %d: Name sealed = %v", when, levels, isSealed(n.Name))
			}
		}
		if levels != depth {
			t.Fatalf("%s: %d levels, want %d", when, levels, depth)
		}
	}
	check("after Seal", true)
	if err := e.p.Open(ctx, root); err != nil {
		t.Fatal(err)
	}
	check("after Open", false)
	if root.Left.Left.Name != "level" {
		t.Error("the DAG did not round-trip")
	}
}

// Household shares values between its fields.
type Household struct {
	ID       string `pii:"subject"`
	A, B     *Address
	P, Q     []Phone
	M, N     map[string]Phone
	Nick     *string `pii:"encrypt"`
	SameNick *string `pii:"encrypt,name=nick2"`
}

// TestReviewL1SharedPointeesStayShared: a pointer, slice or map held twice
// in one value is sealed once and both holders get the same copy; the
// caller's original is never written. The same pointer in two fields with
// different names is sealed for each (their associated data differ).
func TestReviewL1SharedPointeesStayShared(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	addr := &Address{Street: "1 Shared Road", Zip: "S1"}
	phones := []Phone{{Number: "+44 1"}}
	byKind := map[string]Phone{"home": {Number: "+44 2"}}
	nick := "Countess"
	h := Household{ID: "h", A: addr, B: addr, P: phones, Q: phones, M: byKind, N: byKind, Nick: &nick, SameNick: &nick}
	if err := e.p.Seal(ctx, &h); err != nil {
		t.Fatal(err)
	}
	if h.A != h.B || &h.P[0] != &h.Q[0] || reflect.ValueOf(h.M).UnsafePointer() != reflect.ValueOf(h.N).UnsafePointer() {
		t.Error("values shared before Seal are no longer shared after it")
	}
	if h.A == addr || &h.P[0] == &phones[0] || reflect.ValueOf(h.M).UnsafePointer() == reflect.ValueOf(byKind).UnsafePointer() {
		t.Error("Seal wrote into the caller's shared values")
	}
	if addr.Street != "1 Shared Road" || phones[0].Number != "+44 1" || byKind["home"].Number != "+44 2" || nick != "Countess" {
		t.Error("the caller's shared values were modified")
	}
	if !isSealed(h.A.Street) || !isSealed(h.P[0].Number) || !isSealed(h.M["home"].Number) {
		t.Error("shared values not sealed")
	}
	if h.Nick == h.SameNick || !isSealed(*h.Nick) || !isSealed(*h.SameNick) {
		t.Error("one pointer in two differently named fields must be sealed for each")
	}
	if err := e.p.Open(ctx, &h); err != nil {
		t.Fatal(err)
	}
	if h.A != h.B || &h.P[0] != &h.Q[0] || reflect.ValueOf(h.M).UnsafePointer() != reflect.ValueOf(h.N).UnsafePointer() {
		t.Error("values shared before Open are no longer shared after it")
	}
	if h.A.Street != "1 Shared Road" || h.Q[0].Number != "+44 1" || h.N["home"].Number != "+44 2" || *h.Nick != "Countess" || *h.SameNick != "Countess" {
		t.Errorf("shared values did not round-trip: %+v", h)
	}
}

// TestSharedAcrossSubjectsSealedForEach: an *Address shared by two
// people is sealed under each one's key, never once for both.
func TestSharedAcrossSubjectsSealedForEach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	addr := &Address{Street: "1 Shared Road"}
	cs := []Customer{{ID: "alice", Work: addr}, {ID: "bob", Work: addr}}
	if err := e.p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if cs[0].Work == cs[1].Work {
		t.Fatal("two subjects share one sealed copy")
	}
	for i := range cs {
		if err := e.p.Open(ctx, &cs[i]); err != nil || cs[i].Work.Street != "1 Shared Road" {
			t.Fatalf("Open(%s) = %v", cs[i].ID, err)
		}
	}
}

// ---- L3: malformed tags, interfaces ----

// taggedType returns a struct type with a subject and a string field Name
// with tag: a way to have tags that go vet would refuse in source.
func taggedType(tag string) reflect.Type {
	return reflect.StructOf([]reflect.StructField{
		{Name: "ID", Type: reflect.TypeFor[string](), Tag: `pii:"subject"`},
		{Name: "Name", Type: reflect.TypeFor[string](), Tag: reflect.StructTag(tag)},
	})
}

type (
	upperTag struct {
		ID   string `pii:"subject"`
		Name string `PII:"encrypt"`
	}
	twicePII struct {
		ID   string `pii:"subject"`
		Name string `pii:"encrypt" pii:"-"`
	}
	// Tags that mention pii without being the key: all fine.
	piiLookalikes struct {
		ID    string `pii:"subject"`
		Level string `json:"pii_level" doc:"pii: yes"`
		Other string `piix:"1" xpii:"2"`
	}
)

// TestReviewL3MalformedTagIsATagError: tags that reflect.StructTag.Lookup
// cannot read used to leave the field in the clear, with no error.
func TestReviewL3MalformedTagIsATagError(t *testing.T) {
	e := newEnv(t)
	values := []any{&upperTag{ID: "s", Name: "Ada"}, &twicePII{ID: "s", Name: "Ada"}}
	for _, tag := range []string{
		`json:"name",pii:"encrypt"`, // comma between pairs
		`pii: "encrypt"`,            // space after the colon
		`pii :"encrypt"`,            // space before it
		`json:"x";pii:"encrypt"`,
		`pii:"encrypt\q"`, // bad escape
		`json:"x" pii:"encrypt`,
		`pii:encrypt`,
	} {
		v := reflect.New(taggedType(tag))
		v.Elem().Field(0).SetString("s")
		v.Elem().Field(1).SetString("Ada")
		values = append(values, v.Interface())
	}
	for _, v := range values {
		name := reflect.TypeOf(v).Elem().String()
		err := e.p.Seal(context.Background(), v)
		var te *pii.TagError
		if !errors.As(err, &te) || te.Field != "Name" {
			t.Errorf("%s: Seal = %v, want a *TagError for field Name", name, err)
		}
		if reflect.ValueOf(v).Elem().FieldByName("Name").String() != "Ada" {
			t.Errorf("%s: the value was changed", name)
		}
	}
	if err := pii.Check[piiLookalikes](); err != nil {
		t.Errorf("Check[piiLookalikes] = %v, want nil", err)
	}
}

type Envelope struct {
	Kind    string
	Payload any
	Items   []any
	Meta    map[string]any
	Inner   Wrapper
}

type Wrapper struct {
	Note string
	Any  any
}

// TestReviewL3InterfaceFieldsRefused: a struct with protected fields behind
// an interface used to stay in the clear after Seal, silently. Seal and
// Open refuse it, naming where it is, and change nothing.
func TestReviewL3InterfaceFieldsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ada := Customer{ID: "s", Name: "Ada Lovelace"}
	cases := []struct {
		v    Envelope
		path string
	}{
		{Envelope{Payload: ada}, "Envelope.Payload"},
		{Envelope{Payload: &ada}, "Envelope.Payload"},
		{Envelope{Payload: []Customer{ada}}, "Envelope.Payload[0]"},
		{Envelope{Items: []any{1, "x", &ada}}, "Envelope.Items[2]"},
		{Envelope{Meta: map[string]any{"who": map[string]any{"c": ada}}}, "Envelope.Meta[…][…]"},
		{Envelope{Inner: Wrapper{Any: Wrapper{Any: &ada}}}, "Envelope.Inner.Any.Any"},
		{Envelope{Payload: Address{Street: "x"}}, "Envelope.Payload"}, // nested type, no subject of its own
	}
	for _, tc := range cases {
		for _, op := range []string{"seal", "open"} {
			v := tc.v
			var err error
			if op == "seal" {
				err = e.p.Seal(ctx, &v)
			} else {
				err = e.p.Open(ctx, &v)
			}
			var fe *pii.FieldError
			if !errors.Is(err, pii.ErrUnprotectedInterface) || !errors.As(err, &fe) || fe.Path != tc.path {
				t.Errorf("%s of %s = %v, want ErrUnprotectedInterface at %s", op, tc.path, err, tc.path)
			}
			if err != nil && strings.Contains(err.Error(), "Ada") {
				t.Errorf("error %q holds a value", err)
			}
		}
	}
	if ada.Name != "Ada Lovelace" {
		t.Error("the value behind the interface was changed")
	}
	// Interfaces holding anything else are fine, cycles included.
	self := map[string]any{"n": 1}
	self["self"] = self
	ok := Envelope{Payload: "text", Items: []any{1, Wrapper{Note: "n"}, &Wrapper{}}, Meta: self, Inner: Wrapper{Any: []byte("x")}}
	if err := e.p.Seal(ctx, &ok); err != nil {
		t.Errorf("Seal of an Envelope without protected values = %v", err)
	}
	// A tagged struct that also holds an interface.
	type Tagged struct {
		ID    string `pii:"subject"`
		Name  string `pii:"encrypt"`
		Extra any
	}
	tg := Tagged{ID: "s", Name: "n", Extra: &ada}
	if err := e.p.Seal(ctx, &tg); !errors.Is(err, pii.ErrUnprotectedInterface) || tg.Name != "n" {
		t.Errorf("Seal of a tagged struct holding one behind an interface = %v", err)
	}
}

// TestReviewL3LogValueRedactsTaggedInterfaces: LogValue used to print a
// tagged struct behind an interface in full.
func TestReviewL3LogValueRedactsTaggedInterfaces(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ada := Customer{ID: "s", Name: "Ada Lovelace", Email: "ada@example.com"}
	log.Info("m", "v", pii.LogValue(Envelope{Kind: "k", Payload: &ada, Items: []any{"plain"}, Inner: Wrapper{Note: "shown", Any: ada}}))
	out := buf.String()
	for _, leak := range []string{"Ada", "ada@"} {
		if strings.Contains(out, leak) {
			t.Errorf("log output %q contains %q", out, leak)
		}
	}
	for _, want := range []string{"v.Payload=[redacted]", "v.Inner=[redacted]", "v.Kind=k", "plain"} {
		if !strings.Contains(out, want) {
			t.Errorf("log output %q lacks %q", out, want)
		}
	}
}

// ---- Sealing a sealed value ----

type Doc struct {
	ID    string `pii:"subject"`
	Title string `pii:"encrypt"`
	Body  []byte `pii:"encrypt"`
	SSN   string `pii:"token,format=ssn"`
}

// TestReviewAlreadySealedRefused: Seal of a sealed value used to encrypt it
// again, so that Open returned a ciphertext as the value.
func TestReviewAlreadySealedRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := Doc{ID: "s", Title: "a title", Body: []byte("a body"), SSN: "078-05-1120"}
	if err := e.p.Seal(ctx, &d); err != nil {
		t.Fatal(err)
	}
	sealed := d
	sealed.Body = bytes.Clone(d.Body)
	err := e.p.Seal(ctx, &d)
	var fe *pii.FieldError
	if !errors.Is(err, pii.ErrAlreadySealed) || !errors.As(err, &fe) || fe.Path != "Doc.Title" {
		t.Fatalf("second Seal = %v, want ErrAlreadySealed at Doc.Title", err)
	}
	if !reflect.DeepEqual(d, sealed) {
		t.Error("refused Seal changed the value")
	}
	// The binary form alone, and text of a version not written yet.
	d2 := Doc{ID: "s", Title: "fresh", Body: sealed.Body}
	if err := e.p.Seal(ctx, &d2); !errors.Is(err, pii.ErrAlreadySealed) || !errors.As(err, &fe) || fe.Path != "Doc.Body" {
		t.Errorf("Seal of a sealed []byte = %v, want ErrAlreadySealed at Doc.Body", err)
	}
	for _, s := range []string{"fc1a.hello", "fc1d." + strings.Repeat("A", 40), "fc2a.anything", "fc9z."} {
		d3 := Doc{ID: "s", Title: s}
		if err := e.p.Seal(ctx, &d3); !errors.Is(err, pii.ErrAlreadySealed) || d3.Title != s {
			t.Errorf("Seal of %q = %v, want ErrAlreadySealed", s, err)
		}
	}
	// Values that only resemble the prefix, and binary data with the magic
	// byte but no valid header, are sealed.
	for _, s := range []string{"fc1a", "fc1A.x", "FC1a.x", "xfc1a.", "fc10.x"} {
		d4 := Doc{ID: "s", Title: s, Body: []byte{0xFC, 0x01, 'a', 1, 2, 3}}
		if err := e.p.Seal(ctx, &d4); err != nil || !isSealed(d4.Title) {
			t.Errorf("Seal of %q = %v, want sealed", s, err)
		}
	}
	// Open still opens the once-sealed value.
	if err := e.p.Open(ctx, &d); err != nil || d.Title != "a title" || string(d.Body) != "a body" {
		t.Errorf("Open = %v, %q", err, d.Title)
	}
}

// ---- Check reports every tag error ----

type threeBad struct {
	ID    string    `pii:"subject"`
	Age   int       `pii:"encrypt"`
	Good  string    `pii:"encrypt"`
	Email string    `pii:"encrypt,color=blue"`
	Born  time.Time `pii:"encrypt"`
}

// TestReviewCheckReportsAllTagErrors: Check used to report only the first
// bad field, so fixing a type took one run per mistake.
func TestReviewCheckReportsAllTagErrors(t *testing.T) {
	err := pii.Check[threeBad]()
	var te *pii.TagError
	if !errors.As(err, &te) || te.Field != "Age" {
		t.Fatalf("Check = %v, want *TagError values, the first for Age", err)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Check = %v (%T): want every error joined", err, err)
	}
	var fields []string
	for _, e := range joined.Unwrap() {
		if errors.As(e, &te) {
			fields = append(fields, te.Field)
		}
	}
	if want := []string{"Age", "Email", "Born"}; !reflect.DeepEqual(fields, want) {
		t.Errorf("Check reported fields %v, want %v", fields, want)
	}
	if err2 := pii.Check[threeBad](); err2.Error() != err.Error() {
		t.Error("a second Check reported differently")
	}
}

// ---- Oversized values ----

type Signup struct {
	ID    string `pii:"subject"`
	Email string `pii:"token,format=email"`
	Note  string `pii:"encrypt"`
	Blob  []byte `pii:"encrypt"`
}

// bytesAllocated runs f and returns how many bytes it allocated.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReviewH2OversizedValuesRefusedBeforeWork: a 1 MiB value in a token
// field (and, with WithMaxValueSize below it, in an encrypt field, and its
// ciphertext on Open) is refused by a comparison of lengths: no tokenizing,
// no encryption, no base64 decoding, no key fetch. The work is asserted by
// what it allocates: well under the size of the value.
func TestReviewH2OversizedValuesRefusedBeforeWork(t *testing.T) {
	e := newEnv(t, pii.WithMaxValueSize(64<<10))
	ctx := context.Background()
	big := strings.Repeat("a", 1<<20)
	cases := []struct {
		name string
		v    Signup
		op   string
		path string
	}{
		{"token", Signup{ID: "new-subject-1", Email: big + "@example.com"}, "seal", "Signup.Email"},
		{"encrypt", Signup{ID: "new-subject-2", Note: big}, "seal", "Signup.Note"},
		{"encrypt-bytes", Signup{ID: "new-subject-3", Blob: []byte(big)}, "seal", "Signup.Blob"},
		{"open", Signup{ID: "new-subject-4", Note: "fc1a." + big}, "open", "Signup.Note"},
		{"open-token", Signup{ID: "new-subject-5", Email: big + "@example.com"}, "open", "Signup.Email"},
		// OpenEach used to reserve decode room for an oversized value
		// before refusing it.
		{"openeach", Signup{ID: "new-subject-6", Note: "fc1a." + big}, "openeach", "Signup[0].Note"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			var err error
			alloc := bytesAllocated(func() {
				switch tc.op {
				case "seal":
					err = e.p.Seal(ctx, &v)
				case "openeach":
					one := []Signup{v}
					var errs []error
					errs, err = e.p.OpenEach(ctx, &one)
					if err == nil && len(errs) == 1 {
						err = errs[0]
					}
					v = one[0]
				default:
					err = e.p.Open(ctx, &v)
				}
			})
			var fe *pii.FieldError
			if !errors.Is(err, pii.ErrValueTooLarge) || !errors.As(err, &fe) || fe.Path != tc.path {
				t.Fatalf("%s = %v, want ErrValueTooLarge at %s", tc.op, err, tc.path)
			}
			if alloc > 64<<10 {
				t.Errorf("refusing a 1 MiB value allocated %d bytes", alloc)
			}
			if !reflect.DeepEqual(v, tc.v) {
				t.Error("refused value was changed")
			}
		})
	}
	// No key was created for any of them.
	recs, err := e.store.Scan(ctx, "s.", 10)
	if err != nil || len(recs) != 0 {
		t.Errorf("refused Seals created %d subject keys (%v)", len(recs), err)
	}
	// By default, a 1 MiB note is a legitimate value; a 1 MiB token is not.
	d := newEnv(t)
	s := Signup{ID: "s", Note: big}
	if err := d.p.Seal(ctx, &s); err != nil {
		t.Fatalf("default limit: Seal of a 1 MiB note = %v", err)
	}
	if err := d.p.Open(ctx, &s); err != nil || s.Note != big {
		t.Fatalf("default limit: Open of a 1 MiB note = %v", err)
	}
	s = Signup{ID: "s", Email: big + "@example.com"}
	if err := d.p.Seal(ctx, &s); !errors.Is(err, pii.ErrValueTooLarge) {
		t.Errorf("default limit: Seal of a 1 MiB email token = %v, want ErrValueTooLarge", err)
	}
	if _, err := pii.New(ctx, d.kek, d.store, pii.WithMaxValueSize(0)); err == nil {
		t.Error("WithMaxValueSize(0) accepted")
	}
}

// BenchmarkRefuseOversizedValue measures refusing a 1 MiB value: in a token
// field, in an encrypt field over WithMaxValueSize, and as a ciphertext to
// open. It must not depend on the value's length.
func BenchmarkRefuseOversizedValue(b *testing.B) {
	e := newEnv(b, pii.WithMaxValueSize(64<<10))
	ctx := context.Background()
	big := strings.Repeat("a", 1<<20)
	for _, bc := range []struct {
		name string
		v    Signup
		seal bool
	}{
		{"token", Signup{ID: "s", Email: big + "@example.com"}, true},
		{"encrypt", Signup{ID: "s", Note: big}, true},
		{"open", Signup{ID: "s", Note: "fc1a." + big}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v := bc.v
				var err error
				if bc.seal {
					err = e.p.Seal(ctx, &v)
				} else {
					err = e.p.Open(ctx, &v)
				}
				if !errors.Is(err, pii.ErrValueTooLarge) {
					b.Fatal(err)
				}
			}
		})
	}
}

// ---- OpenEach ----

// TestReviewOpenEachOneForgottenSubject: one forgotten subject used to fail
// a whole OpenAll page. OpenEach opens the others, leaves that record
// exactly as it was with ErrForgotten, and still fetches keys in batches.
func TestReviewOpenEachOneForgottenSubject(t *testing.T) {
	e := newEnv(t, pii.WithBatchSize(10))
	ctx := context.Background()
	var cs []*Customer
	var want []Customer
	for i := range 12 {
		c := sampleCustomer("page-" + string(rune('a'+i)))
		want = append(want, deepCopy(c))
		cs = append(cs, &c)
	}
	cs = append(cs, nil) // skipped
	if err := e.p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Forget(ctx, "page-e"); err != nil {
		t.Fatal(err)
	}
	tampered := deepCopy(*cs[7])
	cs[7].Work.Street = cs[8].Work.Street // another subject's ciphertext
	sealed4, sealed7 := deepCopy(*cs[4]), deepCopy(*cs[7])
	sealed7.Work.Street = cs[7].Work.Street
	_ = tampered

	// OpenAll keeps its meaning: the whole page fails, nothing changes.
	p2 := e.protector(t, pii.WithBatchSize(10))
	if err := p2.OpenAll(ctx, cs); !errors.Is(err, pii.ErrForgotten) && !errors.Is(err, pii.ErrAuthentication) {
		t.Fatalf("OpenAll = %v", err)
	}
	if !reflect.DeepEqual(*cs[4], sealed4) {
		t.Fatal("failed OpenAll changed a record")
	}

	p3 := e.protector(t, pii.WithBatchSize(10))
	e.kek.ResetCounts()
	errs, err := p3.OpenEach(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(cs) {
		t.Fatalf("OpenEach returned %d errors for %d records", len(errs), len(cs))
	}
	var fe *pii.FieldError
	for i, err := range errs {
		switch i {
		case 4:
			if !errors.Is(err, pii.ErrForgotten) || !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "Customer[4].") {
				t.Errorf("record 4 (forgotten): %v", err)
			}
			if !reflect.DeepEqual(*cs[4], sealed4) {
				t.Error("record 4 was changed")
			}
		case 7:
			if !errors.Is(err, pii.ErrAuthentication) || !errors.As(err, &fe) || fe.Path != "Customer[7].Work.Street" {
				t.Errorf("record 7 (tampered): %v", err)
			}
			if !reflect.DeepEqual(*cs[7], sealed7) {
				t.Error("record 7 was changed: a failed record must be left exactly as it was")
			}
		case 12:
			if err != nil {
				t.Errorf("nil record: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("record %d: %v", i, err)
			} else if !reflect.DeepEqual(*cs[i], want[i]) {
				t.Errorf("record %d did not open", i)
			}
		}
	}
	// 11 live subjects missing from the cache: two batches of at most 10.
	if n, single := e.kek.Calls(kmstest.OpDecryptBatch), e.kek.Calls(kmstest.OpDecrypt); n != 2 || single != 0 {
		t.Errorf("OpenEach made %d batch and %d single unwrap calls, want 2 and 0", n, single)
	}
	// A whole-call failure changes nothing and returns no per-record errors.
	if errs, err := p3.OpenEach(ctx, Customer{}); !errors.Is(err, pii.ErrInvalidArgument) || errs != nil {
		t.Errorf("OpenEach(non-slice) = %v, %v", errs, err)
	}
}

// TestOpenEachKMSDownFailsTheCall: when the batched key fetch fails
// as a whole, OpenEach returns that error and changes nothing.
func TestOpenEachKMSDownFailsTheCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cs := []Customer{sampleCustomer("k1"), sampleCustomer("k2")}
	if err := e.p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	before := []Customer{deepCopy(cs[0]), deepCopy(cs[1])}
	p2 := e.protector(t)
	down := errors.New("kms down")
	e.kek.FailAll(down)
	defer e.kek.SetFault(nil)
	errs, err := p2.OpenEach(ctx, cs)
	if err == nil || errs != nil {
		t.Fatalf("OpenEach with the KMS down = %v, %v; want a call error", errs, err)
	}
	if !reflect.DeepEqual(cs, before) {
		t.Error("failed OpenEach changed records")
	}
}

type (
	recSlice []recSlice
	recMap   map[string]recMap
	recPtr   *recPtr
	holdsRec struct {
		ID string `pii:"subject"`
		L  []recSlice
		M  recMap
		P  recPtr
		N  string `pii:"encrypt"`
	}
	encryptsRec struct {
		ID string   `pii:"subject"`
		L  recSlice `pii:"encrypt"`
	}
)

// TestRecursiveContainerTypesAreNotAFatalError: a type that contains itself
// through slices, maps or pointers alone used to overflow the stack while
// its plan was made.
func TestRecursiveContainerTypesAreNotAFatalError(t *testing.T) {
	if err := pii.Check[holdsRec](); err != nil {
		t.Errorf("Check[holdsRec] = %v", err)
	}
	var te *pii.TagError
	if err := pii.Check[encryptsRec](); !errors.As(err, &te) || te.Field != "L" {
		t.Errorf("Check[encryptsRec] = %v, want a *TagError for L", err)
	}
	e := newEnv(t)
	v := holdsRec{ID: "s", L: []recSlice{{nil, {}}}, M: recMap{"a": recMap{}}, N: "x"}
	if err := e.p.Seal(context.Background(), &v); err != nil || !isSealed(v.N) {
		t.Errorf("Seal = %v", err)
	}
	pii.LogValue(v)
}

// AnyNode is a list linked through an interface.
type AnyNode struct {
	Next any
}

// TestInterfaceSearchOfADeepListIsTooDeep: the search behind interfaces has
// the same depth limit as the walk.
func TestInterfaceSearchOfADeepListIsTooDeep(t *testing.T) {
	e := newEnv(t)
	var head any
	for range 2 * pii.MaxDepth {
		head = &AnyNode{Next: head}
	}
	v := Envelope{Payload: head}
	if err := e.p.Seal(context.Background(), &v); !errors.Is(err, pii.ErrTooDeep) {
		t.Errorf("Seal = %v, want ErrTooDeep", err)
	}
	if got := pii.LogValue(v).String(); !strings.Contains(got, "Payload="+pii.Redacted) {
		t.Errorf("LogValue = %.200s, want the Payload redacted", got)
	}
}
