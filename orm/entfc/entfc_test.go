package entfc_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/orm/entfc"
	"github.com/fieldcrypt/fieldcrypt/orm/entfc/internal/testent"
	"github.com/fieldcrypt/fieldcrypt/orm/entfc/internal/testent/customer"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type env struct {
	client *testent.Client
	raw    *sql.DB
	p      *pii.Protector
}

func newProtector(t testing.TB) *pii.Protector {
	t.Helper()
	kek, err := local.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p, err := pii.New(context.Background(), kek, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func forEach(t *testing.T, f func(t *testing.T, e *env)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var (
				db  *sql.DB
				err error
				d   string
			)
			if name == "postgres" {
				db, err = sql.Open("pgx", pgtest.Schema(t))
				d = dialect.Postgres
			} else {
				db, err = sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "test.db")+"?_pragma=foreign_keys(1)")
				db.SetMaxOpenConns(1)
				d = dialect.SQLite
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			e := &env{raw: db, p: newProtector(t)}
			e.client = testent.NewClient(testent.Driver(entsql.OpenDB(d, db)))
			e.client.Customer.Use(entfc.Hook[testent.Customer](e.p))
			e.client.Customer.Intercept(entfc.Interceptor[testent.Customer](e.p))
			if err := e.client.Schema.Create(context.Background()); err != nil {
				t.Fatal(err)
			}
			f(t, e)
		})
	}
}

var (
	born   = time.Date(1990, 4, 1, 12, 30, 0, 0, time.UTC)
	termRE = regexp.MustCompile(`^v[0-9]+:[0-9a-f]+$`)
	plains = []string{"Ada Lovelace", "ada@example.com", "Grace Hopper", "grace@example.com", "Ada King", "ada.king@example.com"}
)

func create(ctx context.Context, e *env, subject, name, email, code string) (*testent.Customer, error) {
	return e.client.Customer.Create().
		SetSubject(subject).SetName(name).SetEmail(pii.SealedString(email)).
		SetBorn(pii.NewSealed(born)).SetSalary(pii.NewSealed(int64(42))).
		SetTeam("blue").SetCode(code).Save(ctx)
}

// checkTable reads every row with database/sql: ciphertexts and terms
// only, no plaintext.
func checkTable(t *testing.T, e *env) int {
	t.Helper()
	rows, err := e.raw.Query(`SELECT subject, name, email, email_idx, born, salary, team, code FROM customers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var subject, name, email, idx, code, team string
		var bornCol, salary sql.NullString
		if err := rows.Scan(&subject, &name, &email, &idx, &bornCol, &salary, &team, &code); err != nil {
			t.Fatal(err)
		}
		for col, v := range map[string]string{"name": name, "email": email, "born": bornCol.String, "salary": salary.String} {
			var s pii.Sealed[string]
			if err := s.Scan(v); err != nil {
				t.Errorf("column %s holds no ciphertext: %v", col, err)
			}
		}
		if !termRE.MatchString(idx) {
			t.Errorf("email_idx = %q, want a term", idx)
		}
		for _, col := range []string{subject, name, email, idx, bornCol.String, salary.String, team, code} {
			for _, p := range plains {
				if strings.Contains(col, p) {
					t.Errorf("plaintext %q in the table", p)
				}
			}
		}
	}
	return n
}

func checkOpened(t *testing.T, c *testent.Customer, name, email string) {
	t.Helper()
	if c.Name != name || string(c.Email) != email {
		t.Errorf("entity holds %q, %q; want %q, %q", c.Name, c.Email, name, email)
	}
	if b, err := c.Born.Get(); err != nil || !b.Equal(born) {
		t.Errorf("Born.Get() = %v, %v", b, err)
	}
	if s, err := c.Salary.Get(); err != nil || s != 42 {
		t.Errorf("Salary.Get() = %v, %v", s, err)
	}
}

func byEmail(ctx context.Context, e *env, email string) ([]*testent.Customer, error) {
	return entfc.FindByIndex[testent.Customer](ctx, e.p, func(ctx context.Context, terms []string) ([]*testent.Customer, error) {
		return e.client.Customer.Query().Where(customer.EmailIdxIn(terms...)).Order(customer.ByID()).All(ctx)
	}, "email", email)
}

func TestCreateReadUpdate(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada, err := create(ctx, e, "s-ada", "Ada Lovelace", "ada@example.com", "c1")
		if err != nil {
			t.Fatal(err)
		}
		checkOpened(t, ada, "Ada Lovelace", "ada@example.com")
		grace, err := create(ctx, e, "s-grace", "Grace Hopper", "grace@example.com", "c2")
		if err != nil {
			t.Fatal(err)
		}
		if n := checkTable(t, e); n != 2 {
			t.Fatalf("%d rows", n)
		}

		got, err := e.client.Customer.Get(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkOpened(t, got, "Ada Lovelace", "ada@example.com")
		all, err := e.client.Customer.Query().Order(customer.ByID()).All(ctx)
		if err != nil || len(all) != 2 || all[1].Name != "Grace Hopper" {
			t.Fatalf("All: %d, %v", len(all), err)
		}
		first, err := e.client.Customer.Query().Where(customer.Code("c2")).Only(ctx)
		if err != nil || first.ID != grace.ID || first.Name != "Grace Hopper" {
			t.Fatalf("Only: %v", err)
		}

		// UpdateOne: the subject comes from the stored entity.
		upd, err := e.client.Customer.UpdateOneID(ada.ID).SetName("Ada King").SetEmail("Ada.King@example.com").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if upd.Name != "Ada King" || upd.Email != "Ada.King@example.com" {
			t.Errorf("UpdateOne returned %q, %q", upd.Name, upd.Email)
		}
		checkTable(t, e)
		found, err := byEmail(ctx, e, "ada.king@example.com")
		if err != nil || len(found) != 1 || found[0].ID != ada.ID {
			t.Fatalf("FindByIndex after update: %d, %v", len(found), err)
		}
		checkOpened(t, found[0], "Ada King", "Ada.King@example.com")
		if found, err := byEmail(ctx, e, "ada@example.com"); err != nil || len(found) != 0 {
			t.Fatalf("FindByIndex of the old email: %d, %v", len(found), err)
		}
		// An update of other fields leaves the sealed ones alone.
		if _, err := e.client.Customer.UpdateOneID(ada.ID).SetTeam("red").Save(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := e.client.Customer.Get(ctx, ada.ID); err != nil || got.Name != "Ada King" || got.Team != "red" {
			t.Fatalf("after a plain update: %v", err)
		}
		// A bulk update: plain fields pass, sealed ones are refused.
		if _, err := e.client.Customer.Update().SetTeam("green").Save(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Customer.Update().Where(customer.ID(ada.ID)).SetName("Mallory").Save(ctx); !errors.Is(err, entfc.ErrBulkUpdate) {
			t.Fatalf("bulk update of a sealed field: %v", err)
		}
		checkTable(t, e)
	})
}

func TestForgottenAndFailures(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada, err := create(ctx, e, "s-ada", "Ada Lovelace", "ada@example.com", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := create(ctx, e, "s-grace", "Grace Hopper", "grace@example.com", "c2"); err != nil {
			t.Fatal(err)
		}

		// A failed insert (duplicate code): the builder holds what the
		// caller set, and can be saved again once fixed.
		b := e.client.Customer.Create().SetSubject("s-x").SetName("Grace Hopper").
			SetEmail("grace@example.com").SetBorn(pii.NewSealed(born)).SetSalary(pii.NewSealed(int64(42))).SetCode("c1")
		if _, err := b.Save(ctx); err == nil {
			t.Fatal("duplicate inserted")
		}
		if name, _ := b.Mutation().Name(); name != "Grace Hopper" {
			t.Errorf("after a failed insert the builder holds %q", name)
		}
		if idx, _ := b.Mutation().EmailIdx(); idx != "" { // "": ent's default, set before the hooks run
			t.Errorf("after a failed insert the builder holds an index %q", idx)
		}
		if email, _ := b.Mutation().Email(); email != "grace@example.com" {
			t.Errorf("after a failed insert the builder holds %q", email)
		}
		saved, err := b.SetCode("c3").Save(ctx)
		if err != nil {
			t.Fatalf("saving the builder again: %v", err)
		}
		checkOpened(t, saved, "Grace Hopper", "grace@example.com")
		checkTable(t, e)

		// A forgotten subject.
		if _, err := e.p.Forget(ctx, "s-ada"); err != nil {
			t.Fatal(err)
		}
		// ent returns no entities with an error: the whole page fails.
		_, err = e.client.Customer.Query().Order(customer.ByID()).All(ctx)
		var oe *entfc.OpenError
		if !errors.Is(err, pii.ErrForgotten) || !errors.As(err, &oe) || len(oe.Errs) != 3 {
			t.Fatalf("All with a forgotten subject: %v", err)
		}
		if oe.Errs[0] == nil || oe.Errs[1] != nil || oe.Errs[2] != nil {
			t.Errorf("OpenError.Errs = %v, want the first entity only", oe.Errs)
		}
		// The others read on their own.
		if others, err := e.client.Customer.Query().Where(customer.SubjectNEQ("s-ada")).All(ctx); err != nil || len(others) != 2 {
			t.Errorf("the other subjects' entities: %d, %v", len(others), err)
		}
		if _, err := e.client.Customer.Get(ctx, ada.ID); !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("Get of a forgotten subject's entity: %v", err)
		}
		if found, err := byEmail(ctx, e, "ada@example.com"); err != nil || len(found) != 0 {
			t.Errorf("FindByIndex of a forgotten subject: %d, %v", len(found), err)
		}
		if _, err := create(ctx, e, "s-ada", "Ada Lovelace", "ada@example.com", "c9"); !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("create for a forgotten subject: %v", err)
		}
		// A Seal failure sends nothing.
		if _, err := create(ctx, e, "", "Ada Lovelace", "ada@example.com", "c8"); !errors.Is(err, pii.ErrNoSubject) {
			t.Errorf("create without a subject: %v", err)
		}
		// Raw reads as stored.
		raw, err := e.client.Customer.Query().Where(customer.Code("c2")).Only(entfc.Raw(ctx))
		if err != nil || !raw.Born.IsSealed() || raw.Name == "Grace Hopper" {
			t.Errorf("Raw: %v", err)
		}
		if n := checkTable(t, e); n != 3 {
			t.Fatalf("%d rows", n)
		}
	})
}
