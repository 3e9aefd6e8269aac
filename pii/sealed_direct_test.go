package pii_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// The types Seal and Open encode without reflection (valuecodec's direct
// path) and named types of the same kinds, which take the reflect path,
// under one scope: each reads the other's columns.
type DirectV struct {
	_    struct{}              `pii:"scope=Direct"`
	ID   string                `pii:"subject"`
	U    pii.Sealed[uint64]    `pii:"encrypt"`
	I    pii.Sealed[int]       `pii:"encrypt"`
	T    pii.Sealed[time.Time] `pii:"encrypt"`
	Name pii.Sealed[string]    `pii:"encrypt"`
}

type myUint uint64
type myInt int32

type NamedV struct {
	_    struct{}              `pii:"scope=Direct"`
	ID   string                `pii:"subject"`
	U    pii.Sealed[myUint]    `pii:"encrypt"`
	I    pii.Sealed[myInt]     `pii:"encrypt"`
	T    pii.Sealed[time.Time] `pii:"encrypt"`
	Name pii.Sealed[string]    `pii:"encrypt"`
}

// moveColumn scans src's ciphertext into dst, of another type.
func moveColumn[A, B any](t *testing.T, dst *pii.Sealed[A], src pii.Sealed[B]) {
	t.Helper()
	ct, ok := src.Ciphertext()
	if !ok {
		t.Fatal("not sealed")
	}
	if err := dst.Scan(ct); err != nil {
		t.Fatal(err)
	}
}

func TestSealedDirectAndReflectPathsAgree(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	when := time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("x", -7200))
	d := DirectV{ID: "d", U: pii.NewSealed(uint64(math.MaxUint64)), I: pii.NewSealed(-5), T: pii.NewSealed(when), Name: pii.NewSealed("n")}
	if err := e.p.Seal(ctx, &d); err != nil {
		t.Fatal(err)
	}
	// Read as named types (reflect path): the same encodings.
	n := NamedV{ID: "d"}
	moveColumn(t, &n.U, d.U)
	moveColumn(t, &n.I, d.I)
	moveColumn(t, &n.T, d.T)
	moveColumn(t, &n.Name, d.Name)
	if err := e.p.Open(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if u, i := mustGet(t, "U", n.U), mustGet(t, "I", n.I); u != math.MaxUint64 || i != -5 {
		t.Errorf("named: U=%d I=%d", u, i)
	}
	// And back: sealed on the reflect path, opened on the direct one.
	if err := e.p.Seal(ctx, &n); err != nil {
		t.Fatal(err)
	}
	back := DirectV{ID: "d"}
	moveColumn(t, &back.U, n.U)
	moveColumn(t, &back.I, n.I)
	moveColumn(t, &back.T, n.T)
	moveColumn(t, &back.Name, n.Name)
	if err := e.p.Open(ctx, &back); err != nil {
		t.Fatal(err)
	}
	if u, i, tm, s := mustGet(t, "U", back.U), mustGet(t, "I", back.I), mustGet(t, "T", back.T), mustGet(t, "Name", back.Name); u != math.MaxUint64 || i != -5 || !tm.Equal(when) || tm.Location() != time.UTC || s != "n" {
		t.Errorf("direct: %d %d %v %q", u, i, tm, s)
	}

	// All or nothing: U decodes on the direct path, then I (an int column
	// read as a uint64) does not: nothing is opened.
	swapped := struct {
		_  struct{}           `pii:"scope=Direct"`
		ID string             `pii:"subject"`
		U  pii.Sealed[uint64] `pii:"encrypt"`
		I  pii.Sealed[uint64] `pii:"encrypt"` // holds an int
	}{ID: "d"}
	moveColumn(t, &swapped.U, d.U)
	moveColumn(t, &swapped.I, d.I)
	if err := e.p.Open(ctx, &swapped); !errors.Is(err, pii.ErrTypeMismatch) {
		t.Fatalf("Open of an int as uint64 = %v, want ErrTypeMismatch", err)
	}
	if !swapped.U.IsSealed() || !swapped.I.IsSealed() {
		t.Error("a failed Open changed a value")
	}
}
