// Command typed stores and reads a typed model through database/sql: a
// birth date, a salary, a flag, a name, a photo and an email, each sealed
// in a text column that never holds plaintext.
//
//	go run ./examples/typed                               # SQLite, in ./.fieldcrypt/typed
//	go run ./examples/typed -postgres 'postgres://...'    # or PostgreSQL
//
// The columns are pii.Sealed[T] (and pii.SealedString for a plain string
// field): their Value refuses a value that was not sealed, so forgetting
// Seal before an INSERT is an error, not a plaintext row.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Employee is the model. Sealed fields need no tag (they are always
// encrypted); a tag adds options, here a stable name.
type Employee struct {
	ID     string                `pii:"subject"`
	Name   pii.Sealed[string]    //
	Born   pii.Sealed[time.Time] // the instant is kept; it opens in UTC
	Salary pii.Sealed[int64]     `pii:"encrypt,name=salary"`
	Remote pii.Sealed[bool]      //
	Photo  pii.Sealed[[]byte]    //
	Email  pii.SealedString      `pii:"encrypt"` // a string field whose column refuses plaintext
	Team   string                // not personal data
}

const schema = `CREATE TABLE IF NOT EXISTS employees (
	id     TEXT PRIMARY KEY,
	name   TEXT,
	born   TEXT,
	salary TEXT,
	remote TEXT,
	photo  TEXT,
	email  TEXT,
	team   TEXT)`

func main() {
	dir := flag.String("dir", filepath.Join(".fieldcrypt", "typed"), "directory for the key file, the key store and the SQLite database")
	pg := flag.String("postgres", "", "a PostgreSQL URL to store the rows in instead of SQLite")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *dir, *pg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, dir, pgURL string) error {
	if err := pii.Check[Employee](); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	kek, err := local.Open(filepath.Join(dir, "kek.json"))
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := pii.New(ctx, kek, store)
	if err != nil {
		return err
	}
	defer p.Close()

	driver, dsn := "sqlite", filepath.Join(dir, "employees.db")
	if pgURL != "" {
		driver, dsn = "pgx", pgURL
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return err
	}

	e := Employee{
		ID:     "emp-42",
		Name:   pii.NewSealed("Ada Lovelace"),
		Born:   pii.NewSealed(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)),
		Salary: pii.NewSealed(int64(120_000)),
		Remote: pii.NewSealed(true),
		Photo:  pii.NewSealed([]byte{0x89, 'P', 'N', 'G'}),
		Email:  "ada@example.com",
		Team:   "analytics",
	}
	const upsert = `INSERT INTO employees (id, name, born, salary, remote, photo, email, team)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET name = $2, born = $3, salary = $4, remote = $5, photo = $6, email = $7, team = $8`
	args := func(e *Employee) []any {
		return []any{e.ID, e.Name, e.Born, e.Salary, e.Remote, e.Photo, e.Email, e.Team}
	}

	// Forgetting Seal: the driver refuses the row.
	_, err = db.ExecContext(ctx, upsert, args(&e)...)
	if !errors.Is(err, pii.ErrNotSealed) {
		return fmt.Errorf("an unsealed INSERT did not fail with ErrNotSealed: %v", err)
	}
	fmt.Fprintln(out, "INSERT before Seal refused:", errors.Is(err, pii.ErrNotSealed))

	if err := p.Seal(ctx, &e); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, upsert, args(&e)...); err != nil {
		return err
	}

	var raw string
	if err := db.QueryRowContext(ctx, `SELECT salary FROM employees WHERE id = $1`, e.ID).Scan(&raw); err != nil {
		return err
	}
	fmt.Fprintf(out, "stored salary column: %.12s…\n", raw)

	var got Employee
	if err := db.QueryRowContext(ctx, `SELECT id, name, born, salary, remote, photo, email, team FROM employees WHERE id = $1`, e.ID).
		Scan(&got.ID, &got.Name, &got.Born, &got.Salary, &got.Remote, &got.Photo, &got.Email, &got.Team); err != nil {
		return err
	}
	if _, err := got.Salary.Get(); !errors.Is(err, pii.ErrNotOpened) {
		return fmt.Errorf("Get before Open: %v", err)
	}
	if err := p.Open(ctx, &got); err != nil {
		return err
	}
	name, _ := got.Name.Get()
	born, _ := got.Born.Get()
	salary, _ := got.Salary.Get()
	remote, _ := got.Remote.Get()
	photo, _ := got.Photo.Get()
	fmt.Fprintf(out, "opened: %s, born %s, salary %d, remote %t, photo %d bytes, email %s, team %s\n",
		name, born.Format(time.DateOnly), salary, remote, len(photo), got.Email, got.Team)
	return nil
}
