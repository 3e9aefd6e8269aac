package pii_test

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Staffer holds every kind of typed value, in every shape.
type Staffer struct {
	ID      string                `pii:"subject"`
	Born    pii.Sealed[time.Time] // untagged: implicitly encrypt
	Salary  pii.Sealed[int64]     `pii:"encrypt,name=salary"`
	Rate    pii.Sealed[float64]   `pii:"encrypt"`
	Staff   pii.Sealed[bool]      `pii:"encrypt,deterministic"`
	Name    pii.Sealed[string]    `pii:"encrypt"`
	Photo   pii.Sealed[[]byte]    `pii:"encrypt"`
	Leave   pii.Sealed[time.Duration]
	Addr    pii.Sealed[netip.Addr] // a TextMarshaler
	Bonus   *pii.Sealed[int]
	Scores  []pii.Sealed[uint16] `pii:"encrypt,bindindex"`
	Pair    [2]pii.Sealed[int8]
	ByYear  map[string]pii.Sealed[float32]
	Missing pii.Sealed[int] // null: left alone
	Plain   string
}

var born = time.Date(1815, 12, 10, 8, 30, 0, 123456789, time.FixedZone("GMT+1", 3600))

func sampleStaffer(id string) Staffer {
	bonus := pii.NewSealed(250)
	return Staffer{
		ID:     id,
		Born:   pii.NewSealed(born),
		Salary: pii.NewSealed(int64(-90_000)),
		Rate:   pii.NewSealed(math.Copysign(0, -1)),
		Staff:  pii.NewSealed(true),
		Name:   pii.NewSealed("Ada Lovelace"),
		Photo:  pii.NewSealed([]byte{0, 1, 2, 0xff}),
		Leave:  pii.NewSealed(36 * time.Hour),
		Addr:   pii.NewSealed(netip.MustParseAddr("192.0.2.7")),
		Bonus:  &bonus,
		Scores: []pii.Sealed[uint16]{pii.NewSealed[uint16](7), pii.NewSealed[uint16](65535)},
		Pair:   [2]pii.Sealed[int8]{pii.NewSealed[int8](-128), pii.NewSealed[int8](0)},
		ByYear: map[string]pii.Sealed[float32]{"2024": pii.NewSealed[float32](1.5)},
		Plain:  "visible",
	}
}

func mustGet[T any](t *testing.T, what string, s pii.Sealed[T]) T {
	t.Helper()
	v, err := s.Get()
	if err != nil {
		t.Fatalf("%s.Get() = %v", what, err)
	}
	return v
}

func TestSealedRoundTripEveryKindAndShape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	emp := sampleStaffer("emp-1")
	bonusBefore := emp.Bonus
	if err := e.p.Seal(ctx, &emp); err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]interface {
		IsSealed() bool
		Ciphertext() (string, bool)
	}{
		"Born": emp.Born, "Salary": emp.Salary, "Rate": emp.Rate, "Staff": emp.Staff, "Name": emp.Name,
		"Photo": emp.Photo, "Leave": emp.Leave, "Addr": emp.Addr, "Bonus": *emp.Bonus,
		"Scores[1]": emp.Scores[1], "Pair[0]": emp.Pair[0], "ByYear": emp.ByYear["2024"],
	} {
		ct, ok := s.Ciphertext()
		if !s.IsSealed() || !ok || !strings.HasPrefix(ct, "fc") {
			t.Errorf("%s not sealed: %q", what, ct)
		}
	}
	if !emp.Missing.IsNull() {
		t.Error("a null value was sealed")
	}
	if _, err := emp.Salary.Get(); !errors.Is(err, pii.ErrNotOpened) {
		t.Errorf("Get of a sealed value = %v, want ErrNotOpened", err)
	}
	if v, _ := bonusBefore.Get(); v != 250 {
		t.Error("Seal wrote through a shared pointer")
	}
	if ct, _ := emp.Scores[0].Ciphertext(); len(ct) > 0 && ct[2] != '2' {
		t.Errorf("bindindex value sealed with format %c, want 2", ct[2])
	}

	// Through a database-like round trip: Value, then Scan into a new struct.
	got := Staffer{ID: "emp-1", Bonus: new(pii.Sealed[int])}
	copyColumn(t, &got.Born, emp.Born)
	copyColumn(t, &got.Salary, emp.Salary)
	copyColumn(t, &got.Rate, emp.Rate)
	copyColumn(t, &got.Staff, emp.Staff)
	copyColumn(t, &got.Name, emp.Name)
	copyColumn(t, &got.Photo, emp.Photo)
	copyColumn(t, &got.Leave, emp.Leave)
	copyColumn(t, &got.Addr, emp.Addr)
	copyColumn(t, got.Bonus, *emp.Bonus)
	got.Scores = make([]pii.Sealed[uint16], 2)
	copyColumn(t, &got.Scores[0], emp.Scores[0])
	copyColumn(t, &got.Scores[1], emp.Scores[1])
	copyColumn(t, &got.Pair[0], emp.Pair[0])
	copyColumn(t, &got.Pair[1], emp.Pair[1])
	got.ByYear = emp.ByYear
	if err := e.p.Open(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if b := mustGet(t, "Born", got.Born); !b.Equal(born) || b.Location() != time.UTC {
		t.Errorf("Born = %v, want the instant %v in UTC", b, born)
	}
	if v := mustGet(t, "Salary", got.Salary); v != -90_000 {
		t.Errorf("Salary = %d", v)
	}
	if v := mustGet(t, "Rate", got.Rate); v != 0 || !math.Signbit(v) {
		t.Errorf("Rate = %v, want -0", v)
	}
	if v := mustGet(t, "Staff", got.Staff); !v {
		t.Error("Staff = false")
	}
	if v := mustGet(t, "Name", got.Name); v != "Ada Lovelace" {
		t.Errorf("Name = %q", v)
	}
	if v := mustGet(t, "Photo", got.Photo); string(v) != "\x00\x01\x02\xff" {
		t.Errorf("Photo = %x", v)
	}
	if v := mustGet(t, "Leave", got.Leave); v != 36*time.Hour {
		t.Errorf("Leave = %v", v)
	}
	if v := mustGet(t, "Addr", got.Addr); v != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("Addr = %v", v)
	}
	if v := mustGet(t, "Bonus", *got.Bonus); v != 250 {
		t.Errorf("Bonus = %v", v)
	}
	if a, b := mustGet(t, "Scores[0]", got.Scores[0]), mustGet(t, "Scores[1]", got.Scores[1]); a != 7 || b != 65535 {
		t.Errorf("Scores = %d, %d", a, b)
	}
	if a, b := mustGet(t, "Pair[0]", got.Pair[0]), mustGet(t, "Pair[1]", got.Pair[1]); a != -128 || b != 0 {
		t.Errorf("Pair = %d, %d", a, b)
	}
	if v := mustGet(t, "ByYear", got.ByYear["2024"]); v != 1.5 {
		t.Errorf("ByYear = %v", v)
	}
	if _, err := got.Missing.Get(); !errors.Is(err, pii.ErrNull) {
		t.Errorf("Get of a null value = %v, want ErrNull", err)
	}
}

// copyColumn writes src as a database driver would and scans it into dst.
func copyColumn[T any](t *testing.T, dst *pii.Sealed[T], src pii.Sealed[T]) {
	t.Helper()
	v, err := src.Value()
	if err != nil {
		t.Fatalf("Value: %v", err)
	}
	if err := dst.Scan([]byte(v.(string))); err != nil {
		t.Fatalf("Scan: %v", err)
	}
}

func TestSealedDeterministicIsCanonical(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	type Row struct {
		_    struct{}              `pii:"scope=SealedDetRow"`
		ID   string                `pii:"subject"`
		When pii.Sealed[time.Time] `pii:"encrypt,deterministic"`
		N    pii.Sealed[float64]   `pii:"encrypt,deterministic"`
	}
	instant := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	a := Row{ID: "s", When: pii.NewSealed(instant), N: pii.NewSealed(math.NaN())}
	// The same instant in another zone, with a monotonic reading; another NaN.
	b := Row{ID: "s", When: pii.NewSealed(instant.In(time.FixedZone("X", -7*3600))), N: pii.NewSealed(math.Float64frombits(0x7FF8000000000ABC))}
	if err := e.p.Seal(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Seal(ctx, &b); err != nil {
		t.Fatal(err)
	}
	ca, _ := a.When.Ciphertext()
	cb, _ := b.When.Ciphertext()
	if ca != cb || !strings.HasPrefix(ca, "fc1d.") {
		t.Errorf("equal instants sealed differently: %q %q", ca, cb)
	}
	na, _ := a.N.Ciphertext()
	nb, _ := b.N.Ciphertext()
	if na != nb {
		t.Error("two NaNs sealed differently")
	}
	now := Row{ID: "s", When: pii.NewSealed(time.Now())}
	if err := e.p.Seal(ctx, &now); err != nil {
		t.Fatal(err)
	}
}

type sealedNoSubject struct {
	A pii.Sealed[string]
}

type sealedDetRecord struct {
	ID  string          `pii:"subject"`
	Rec string          `pii:"record"`
	A   pii.Sealed[int] `pii:"encrypt,deterministic"`
}

type sealedValid struct {
	ID string                 `pii:"subject"`
	A  pii.Sealed[netip.Addr] `pii:"encrypt"`
	B  pii.Sealed[time.Time]  `pii:"encrypt,deterministic,name=b"`
	S  pii.Sealed[[]string]   `pii:"-"` // left alone knowingly
}

func TestSealedBadTypesAreTagErrors(t *testing.T) {
	type point struct{ X, Y int }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"struct T", pii.Check[struct {
			ID string `pii:"subject"`
			P  pii.Sealed[point]
		}](), "has no encoding"},
		{"pointer T", pii.Check[struct {
			ID string `pii:"subject"`
			P  pii.Sealed[*int]
		}](), "has no encoding"},
		{"map T", pii.Check[struct {
			ID string                     `pii:"subject"`
			P  pii.Sealed[map[string]int] `pii:"encrypt"`
		}](), "has no encoding"},
		{"deterministic marshaler", pii.Check[struct {
			ID string                 `pii:"subject"`
			A  pii.Sealed[netip.Addr] `pii:"encrypt,deterministic"`
		}](), "drop deterministic"},
		{"token", pii.Check[struct {
			ID string             `pii:"subject"`
			A  pii.Sealed[string] `pii:"token,format=digits"`
		}](), "tokens are text"},
		{"unexported", pii.Check[struct {
			ID string `pii:"subject"`
			a  pii.Sealed[string]
		}](), "unexported"},
		{"no subject", pii.Check[sealedNoSubject](), "no subject"},
		{"deterministic in reach of a record", pii.Check[sealedDetRecord](), "bind=subject"},
		{"Sealed on its own", pii.Check[pii.Sealed[int]](), "not on its own"},
	}
	for _, c := range cases {
		var te *pii.TagError
		if !errors.As(c.err, &te) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want a *TagError saying %q", c.name, c.err, c.want)
		}
	}
	// Deterministic is fine for canonical kinds; so is a marshaler randomized.
	if err := pii.Check[sealedValid](); err != nil {
		t.Errorf("Check of valid Sealed fields = %v", err)
	}
	// Sealed cannot be a map key (it does not compile: not comparable).
	if reflect.TypeFor[pii.Sealed[string]]().Comparable() {
		t.Error("pii.Sealed is comparable, so it could be a map key")
	}
	// Seal of a bare Sealed value is refused, not a silent no-op.
	e := newEnv(t)
	s := pii.NewSealed(1)
	var te *pii.TagError
	if err := e.p.Seal(context.Background(), &s); !errors.As(err, &te) {
		t.Errorf("Seal(&Sealed) = %v, want *TagError", err)
	}
}

func TestSealedBehindInterfaceRefused(t *testing.T) {
	e := newEnv(t)
	type Holder struct {
		_     struct{} `pii:"scope=SealedHolder"`
		ID    string   `pii:"subject"`
		Extra any
	}
	h := Holder{ID: "x", Extra: pii.NewSealed(42)}
	if err := e.p.Seal(context.Background(), &h); !errors.Is(err, pii.ErrUnprotectedInterface) {
		t.Errorf("Seal with a Sealed in an any = %v, want ErrUnprotectedInterface", err)
	}
	h.Extra = []any{&struct{ S pii.Sealed[string] }{pii.NewSealed("x")}}
	if err := e.p.Seal(context.Background(), &h); !errors.Is(err, pii.ErrUnprotectedInterface) {
		t.Errorf("Seal with a struct of Sealed in an any = %v, want ErrUnprotectedInterface", err)
	}
}

// Both structs share a scope, so that only the field's type differs.
type SalaryV1 struct {
	_      struct{}          `pii:"scope=Salary"`
	ID     string            `pii:"subject"`
	Amount pii.Sealed[int64] `pii:"encrypt"`
	Note   string            `pii:"encrypt"`
}

type SalaryTime struct {
	_      struct{}              `pii:"scope=Salary"`
	ID     string                `pii:"subject"`
	Amount pii.Sealed[time.Time] `pii:"encrypt"`
	Note   pii.Sealed[string]    `pii:"encrypt"`
}

type SalarySmall struct {
	_      struct{}         `pii:"scope=Salary"`
	ID     string           `pii:"subject"`
	Amount pii.Sealed[int8] `pii:"encrypt"`
}

func TestSealedWrongColumnIsTypedError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v1 := SalaryV1{ID: "s", Amount: pii.NewSealed(int64(1_000_000)), Note: "secret note"}
	if err := e.p.Seal(ctx, &v1); err != nil {
		t.Fatal(err)
	}
	ct, _ := v1.Amount.Ciphertext()

	// Another type's ciphertext: the kind byte says so, naming the field.
	var other SalaryTime
	other.ID = "s"
	if err := other.Amount.Scan(ct); err != nil {
		t.Fatal(err)
	}
	err := e.p.Open(ctx, &other)
	var fe *pii.FieldError
	if !errors.Is(err, pii.ErrTypeMismatch) || !errors.As(err, &fe) || fe.Path != "SalaryTime.Amount" {
		t.Errorf("Open of an int64 column as time.Time = %v, want ErrTypeMismatch at SalaryTime.Amount", err)
	}
	if !other.Amount.IsSealed() {
		t.Error("a failed Open changed the value")
	}
	// A plain string field's ciphertext under the same name.
	other = SalaryTime{ID: "s"}
	if err := other.Note.Scan(v1.Note); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &other); !errors.Is(err, pii.ErrTypeMismatch) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a string field's ciphertext as Sealed[string] = %v, want ErrTypeMismatch", err)
	}
	// A number too large for the field.
	small := SalarySmall{ID: "s"}
	if err := small.Amount.Scan(ct); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &small); !errors.Is(err, pii.ErrTypeMismatch) || strings.Contains(err.Error(), "1000000") {
		t.Errorf("Open of 1,000,000 as int8 = %v, want ErrTypeMismatch", err)
	}
	// Another field's ciphertext: the associated data says so.
	moved := SalaryV1{ID: "s"}
	if err := moved.Amount.Scan(ct); err != nil {
		t.Fatal(err)
	}
	moved.Note = ct
	if err := e.p.Open(ctx, &moved); !errors.Is(err, pii.ErrAuthentication) || !errors.As(err, &fe) || fe.Path != "SalaryV1.Note" {
		t.Errorf("Open of another field's ciphertext = %v, want ErrAuthentication at SalaryV1.Note", err)
	}
	// Another subject's.
	thief := SalaryV1{ID: "t"}
	if err := thief.Amount.Scan(ct); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.RotateSubjectKey(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	thief2 := SalaryV1{ID: "t", Note: "x"}
	if err := e.p.Seal(ctx, &thief2); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &thief); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("Open of another subject's ciphertext = %v, want ErrAuthentication", err)
	}
}

func TestSealedTruncatedOrForeignColumn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := SalaryV1{ID: "s", Amount: pii.NewSealed(int64(7))}
	if err := e.p.Seal(ctx, &v); err != nil {
		t.Fatal(err)
	}
	ct, _ := v.Amount.Ciphertext()
	for _, src := range []any{"", "12345", "plain text", "fc1a.", "fc1a.!!!", "fc9a.AAAA", ct[:len(ct)/2], ct[:len(ct)-1], []byte("x")} {
		var s pii.Sealed[int64]
		s.Set(3)
		err := s.Scan(src)
		if err == nil {
			// A truncation that still parses fails to open.
			row := SalaryV1{ID: "s", Amount: s}
			if err := e.p.Open(ctx, &row); !errors.Is(err, pii.ErrAuthentication) && !errors.Is(err, pii.ErrMalformed) {
				t.Errorf("Open of %q = %v, want ErrAuthentication or ErrMalformed", src, err)
			}
			continue
		}
		if !errors.Is(err, pii.ErrNotSealed) && !errors.Is(err, pii.ErrMalformed) {
			t.Errorf("Scan(%q) = %v, want ErrNotSealed or ErrMalformed", src, err)
		}
		if got, _ := s.Get(); got != 3 {
			t.Errorf("a failed Scan changed the value")
		}
	}
	var s pii.Sealed[int64]
	if err := s.Scan(int64(5)); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("Scan(int64) = %v, want ErrInvalidArgument", err)
	}
	s.Set(1)
	if err := s.Scan(nil); err != nil || !s.IsNull() {
		t.Errorf("Scan(nil) = %v, null %v", err, s.IsNull())
	}
}

func TestSealedValueRefusesPlaintext(t *testing.T) {
	s := pii.NewSealed("Ada")
	v, err := s.Value()
	if !errors.Is(err, pii.ErrNotSealed) || v != nil || strings.Contains(err.Error(), "Ada") {
		t.Errorf("Value of a plaintext = %v, %v; want ErrNotSealed", v, err)
	}
	var null pii.Sealed[string]
	if v, err := null.Value(); v != nil || err != nil {
		t.Errorf("Value of null = %v, %v; want NULL", v, err)
	}
	if _, err := json.Marshal(struct{ S pii.Sealed[string] }{s}); !errors.Is(err, pii.ErrNotSealed) {
		t.Errorf("json.Marshal of a plaintext = %v, want ErrNotSealed", err)
	}
	// The column guard for plain string fields.
	if _, err := pii.SealedString("Ada").Value(); !errors.Is(err, pii.ErrNotSealed) {
		t.Errorf("SealedString plaintext Value = %v, want ErrNotSealed", err)
	}
	if _, err := pii.SealedString("fc1a.AAAA").Value(); !errors.Is(err, pii.ErrMalformed) {
		t.Errorf("SealedString damaged Value = %v, want ErrMalformed", err)
	}
	if v, err := pii.SealedString("").Value(); v != "" || err != nil {
		t.Errorf("SealedString empty Value = %v, %v", v, err)
	}
	var _ driver.Valuer = pii.SealedString("")
}

func TestSealedStringColumn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	type Row struct {
		_     struct{}         `pii:"scope=SealedStringRow"`
		ID    string           `pii:"subject"`
		Email pii.SealedString `pii:"encrypt,deterministic"`
	}
	r := Row{ID: "s", Email: "ada@example.com"}
	if err := e.p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	v, err := r.Email.Value()
	if err != nil {
		t.Fatal(err)
	}
	var back Row
	back.ID = "s"
	if err := back.Email.Scan([]byte(v.(string))); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &back); err != nil || back.Email != "ada@example.com" {
		t.Errorf("Open = %v, %q", err, back.Email)
	}
	if err := back.Email.Scan(nil); err != nil || back.Email != "" {
		t.Errorf("Scan(nil) = %v, %q", err, back.Email)
	}
}

func TestSealedJSON(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	type Doc struct {
		_    struct{}           `pii:"scope=SealedDoc"`
		ID   string             `pii:"subject" json:"id"`
		Pay  pii.Sealed[int64]  `json:"pay"`
		Null pii.Sealed[string] `json:"null"`
	}
	d := Doc{ID: "s", Pay: pii.NewSealed(int64(42))}
	if err := e.p.Seal(ctx, &d); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := d.Pay.Ciphertext()
	if want := `{"id":"s","pay":"` + ct + `","null":null}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back Doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &back); err != nil || mustGet(t, "Pay", back.Pay) != 42 || !back.Null.IsNull() {
		t.Errorf("Open after JSON = %v", err)
	}
	for _, in := range []string{`{"pay":42}`, `{"pay":"42"}`, `{"pay":"fc1a.!!"}`, `{"pay":true}`} {
		var x Doc
		x.Pay.Set(1)
		if err := json.Unmarshal([]byte(in), &x); err == nil || !(errors.Is(err, pii.ErrNotSealed) || errors.Is(err, pii.ErrMalformed)) {
			t.Errorf("Unmarshal(%s) = %v, want ErrNotSealed or ErrMalformed", in, err)
		}
		if v, _ := x.Pay.Get(); v != 1 {
			t.Errorf("a failed Unmarshal(%s) changed the value", in)
		}
	}
}

func TestSealedNeverPrints(t *testing.T) {
	s := pii.NewSealed(int64(987654321))
	row := struct{ S pii.Sealed[int64] }{s}
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%d %v %+v %#v %x %s", s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", row, row, &row), s.LogValue().String(),
	} {
		if strings.Contains(out, "987654321") || strings.Contains(out, "3ade68b1") {
			t.Errorf("printed the plaintext: %s", out)
		}
	}
}

func TestSealedOpenAndSealStates(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Open of a plaintext: ErrNotSealed, or left alone in migration mode.
	r := SalaryV1{ID: "s", Amount: pii.NewSealed(int64(5))}
	if err := e.p.Open(ctx, &r); !errors.Is(err, pii.ErrNotSealed) {
		t.Errorf("Open of a plaintext Sealed = %v, want ErrNotSealed", err)
	}
	m := e.protector(t, pii.WithMigrationMode())
	if err := m.Open(ctx, &r); err != nil || mustGet(t, "Amount", r.Amount) != 5 {
		t.Errorf("migration Open = %v", err)
	}
	// Seal of a sealed value: ErrAlreadySealed, nothing changed.
	if err := e.p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	before := r.Amount
	r.Note = "n"
	if err := e.p.Seal(ctx, &r); !errors.Is(err, pii.ErrAlreadySealed) || r.Note != "n" || !reflect.DeepEqual(before, r.Amount) {
		t.Errorf("Seal of a sealed Sealed = %v", err)
	}
	// All-or-nothing: a failure in a later field leaves the Sealed field.
	type Two struct {
		_  struct{}          `pii:"scope=SealedTwo"`
		ID string            `pii:"subject"`
		A  pii.Sealed[int64] `pii:"encrypt"`
		B  string            `pii:"encrypt"`
	}
	two := Two{ID: "s", A: pii.NewSealed(int64(9)), B: "fc1a.looks-sealed"}
	if err := e.p.Seal(ctx, &two); !errors.Is(err, pii.ErrAlreadySealed) || two.A.IsSealed() {
		t.Errorf("failed Seal = %v, A sealed %v", err, two.A.IsSealed())
	}
	// A value too large.
	small := e.protector(t, pii.WithMaxValueSize(8))
	big := SalaryTime{ID: "s", Note: pii.NewSealed("far more than eight bytes")}
	if err := small.Seal(ctx, &big); !errors.Is(err, pii.ErrValueTooLarge) {
		t.Errorf("Seal of a large Sealed = %v, want ErrValueTooLarge", err)
	}
	// A time that cannot be encoded.
	far := SalaryTime{ID: "s", Amount: pii.NewSealed(time.Unix(math.MaxInt64, 0))}
	if err := e.p.Seal(ctx, &far); !errors.Is(err, pii.ErrInvalidArgument) || far.Amount.IsSealed() {
		t.Errorf("Seal of an unencodable time = %v, want ErrInvalidArgument", err)
	}
}

func TestSealedForgottenWithPlaceholder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	r := SalaryV1{ID: "gone", Amount: pii.NewSealed(int64(5)), Note: "note"}
	if err := e.p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Forget(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &r); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open of a forgotten subject = %v, want ErrForgotten", err)
	}
	p := e.protector(t, pii.WithErasedPlaceholder("[erased]"))
	if err := p.Open(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Amount.Get(); !errors.Is(err, pii.ErrForgotten) || r.Note != "[erased]" {
		t.Errorf("Get after an erased Open = %v", err)
	}
	if _, err := r.Amount.Value(); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Value of an erased Sealed = %v, want ErrForgotten", err)
	}
}

func TestSealedSealAllAndOpenEach(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rows := []Staffer{sampleStaffer("a"), sampleStaffer("b"), sampleStaffer("a")}
	if err := e.p.SealAll(ctx, rows); err != nil {
		t.Fatal(err)
	}
	rows[1].Salary.Scan(mustCT(t, rows[0].Salary)) // another subject's
	errs, err := e.p.OpenEach(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], pii.ErrAuthentication) {
		t.Errorf("OpenEach errs = %v", errs)
	}
	if mustGet(t, "Salary", rows[2].Salary) != -90_000 || !rows[1].Name.IsSealed() {
		t.Error("OpenEach did not open the good records or changed the bad one")
	}
}

func mustCT[T any](t *testing.T, s pii.Sealed[T]) string {
	t.Helper()
	ct, ok := s.Ciphertext()
	if !ok {
		t.Fatal("not sealed")
	}
	return ct
}

func TestSealedLogValueRedacted(t *testing.T) {
	emp := sampleStaffer("log")
	out := pii.LogValue(emp).String()
	if strings.Contains(out, "Ada") || strings.Contains(out, "90000") || !strings.Contains(out, "visible") {
		t.Errorf("LogValue = %s", out)
	}
}
