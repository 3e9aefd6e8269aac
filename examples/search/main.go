// Command search shows equality search on encrypted fields: a customers
// table whose personal columns are sealed, with blind-index columns beside
// them, looked up by email, by the last four digits of a card, and by last
// name and birth year together.
//
//	go run ./examples/search                     # SQLite, in a temporary directory
//	go run ./examples/search -rows 50000
//	go run ./examples/search -postgres postgres://user@127.0.0.1/db
//	FIELDCRYPT_SEARCH_POSTGRES=postgres://... go run ./examples/search
//
// With PostgreSQL it works in a schema of its own (fieldcrypt_search_...),
// key store included, and drops it at the end; with SQLite, in a
// temporary directory it removes. The key-encryption key is a local key
// file in that directory: development only (see examples/quickstart).
//
// The database code is plain database/sql (db.go), with pgx's stdlib
// driver for PostgreSQL and modernc.org/sqlite: it reads the same with
// sqlc or pgx directly. A lookup is
//
//	terms, _ := pii.IndexTerms[Customer](ctx, p, "email", email) // one per live key version
//	rows := SELECT ... FROM customers WHERE email_idx = ANY($1)   // candidates, through a B-tree index
//	found, _ := pii.Matches(ctx, p, candidates, "email", email)   // opened, true matches kept
//
// Truncated terms are what keep the index from telling equal values apart
// with certainty; the price is a few false positives per lookup, which
// Matches opens and drops. The program prints the planner's figures for
// each index next to what the lookups actually returned.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// EnvPostgres names the PostgreSQL server to use when -postgres is not given.
const EnvPostgres = "FIELDCRYPT_SEARCH_POSTGRES"

// Config is what the command line sets.
type Config struct {
	Rows     int    // customers to create
	Postgres string // PostgreSQL URL; empty for SQLite
	Dir      string // directory for the key file (and SQLite files); empty for a temporary one
}

func main() {
	var cfg Config
	flag.IntVar(&cfg.Rows, "rows", 10_000, "customers to create (the indexes are planned for 10,000 to 100,000)")
	flag.StringVar(&cfg.Postgres, "postgres", os.Getenv(EnvPostgres), "PostgreSQL URL (default $"+EnvPostgres+"; empty: SQLite)")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the key file and SQLite databases (default: a temporary directory, removed at the end)")
	flag.Parse()
	if err := run(context.Background(), cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg Config) (err error) {
	if cfg.Rows < 1 {
		return errors.New("search: -rows must be at least 1")
	}
	if err := pii.Check[Customer](); err != nil { // fail fast on a bad tag
		return err
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "fieldcrypt-search-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	kek, err := local.Open(filepath.Join(dir, "kek.json"))
	if err != nil {
		return err
	}

	var (
		table Table
		store keystore.Store
	)
	if cfg.Postgres != "" {
		dsn, drop, err := ownSchema(ctx, cfg.Postgres)
		if err != nil {
			return err
		}
		defer drop()
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return err
		}
		defer s.Close()
		store = s
		if table.DB, err = sql.Open("pgx", dsn); err != nil {
			return err
		}
		table.Postgres = true
		fmt.Println("fieldcrypt search example: PostgreSQL, in a schema of its own (dropped at the end)")
	} else {
		s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
		if err != nil {
			return err
		}
		defer s.Close()
		store = s
		// A fresh customers database per run: the subjects are new each run.
		path := filepath.Join(dir, "customers-"+strings.ToLower(rand.Text()[:8])+".db")
		if table.DB, err = sql.Open("sqlite", path); err != nil {
			return err
		}
		fmt.Printf("fieldcrypt search example: SQLite, in %s\n", dir)
	}
	defer table.DB.Close()
	p, err := pii.New(ctx, kek, store)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := table.Create(ctx); err != nil {
		return err
	}

	// 1. The customers, sealed in batches and inserted.
	// New customers each run (an erased subject cannot be sealed again).
	people := People(cfg.Rows, 0, uint64(time.Now().UnixNano()))
	run := strings.ToLower(rand.Text()[:6])
	for i := range people {
		people[i].Subject = run + "-" + people[i].Subject
	}
	plain := append([]Customer(nil), people...)
	fmt.Printf("\nSealing and inserting %d customers (a new key for each)...\n", cfg.Rows)
	start := time.Now()
	if err := sealAndInsert(ctx, p, table, people); err != nil {
		return err
	}
	fmt.Printf("1. %d customers sealed (SealAll, a key per customer) and inserted in %.1fs.\n", cfg.Rows, time.Since(start).Seconds())
	fmt.Println("   A row as the database holds it:")
	row := people[0]
	for _, f := range [][2]string{
		{"id", fmt.Sprint(row.ID)}, {"subject", row.Subject}, {"email", row.Email}, {"card", row.Card},
		{"email_idx", row.EmailIdx}, {"card_last4_idx", row.Last4Idx}, {"name_year_idx", row.NameYearIdx},
	} {
		v := f[1]
		if len(v) > 44 {
			v = v[:40] + "…"
		}
		fmt.Printf("     %-15s %s\n", f[0], v)
	}

	// 2. What the planner says about these indexes at this size.
	fmt.Println("\n2. The planner (blindindex.Recommend; fieldcrypt index plan) for this table:")
	plans, err := planIndexes(plain)
	if err != nil {
		return err
	}
	for _, ix := range []string{IndexEmail, IndexLast4, IndexNameYear} {
		pl := plans[ix]
		verdict := "within the rule"
		if !pl.Safe {
			verdict = "OUTSIDE the rule"
		}
		fmt.Printf("   %-11s %d bits, %6d distinct values: %5.1f rows per term, %5.1f true matches and %5.1f false positives expected per lookup (%s)\n",
			ix, pl.Bits, pl.Distinct, pl.Coincidences, pl.RowsPerValue, pl.FalsePositives, verdict)
	}
	if together, err := blindindex.Recommend(blindindex.PlanInput{
		Rows: uint64(len(plain)), Distinct: plans[IndexEmail].Distinct, Bits: plans[IndexEmail].Bits,
		Others: []blindindex.OtherIndex{
			{Bits: plans[IndexLast4].Bits, Distinct: plans[IndexLast4].Distinct},
			{Bits: plans[IndexNameYear].Bits, Distinct: plans[IndexNameYear].Distinct},
		},
	}); err == nil {
		for _, n := range together.Notes {
			fmt.Printf("   All three together: %s\n", n)
		}
	}

	// 3. Lookups, with the values typed differently from how they were stored.
	target := plain[len(plain)/2]
	fmt.Printf("\n3. Lookups for customer %d (%s %s):\n", target.ID, target.FirstName, target.LastName)
	lookups := []struct {
		what, index string
		values      []string
	}{
		{"email", IndexEmail, []string{strings.ToUpper(strings.TrimSpace(target.Email))}},
		{"card last 4", IndexLast4, []string{"**** " + last4Key(target)}},
		{"last name + birth year", IndexNameYear, []string{strings.ToUpper(target.LastName), target.BirthDate[:4]}},
	}
	for _, l := range lookups {
		n, found, err := table.Lookup(ctx, p, l.index, l.values...)
		if err != nil {
			return err
		}
		fmt.Printf("   by %-23s %q: %3d candidates from the index, %3d true matches\n", l.what, l.values, n, len(found))
		for i, c := range found {
			if i == 3 {
				fmt.Printf("       … and %d more\n", len(found)-i)
				break
			}
			fmt.Printf("       %d %s %s, %s, born %s, card …%s\n", c.ID, c.FirstName, c.LastName, strings.TrimSpace(c.Email), c.BirthDate, last4Key(c))
		}
		if !contains(found, target.ID) {
			return fmt.Errorf("search: the lookup by %s missed customer %d", l.what, target.ID)
		}
	}

	// 4. After Forget, the row is still a candidate (its term stays until
	// the application clears it), but it no longer opens and is dropped.
	if _, err := p.Forget(ctx, target.Subject); err != nil {
		return err
	}
	n, found, err := table.Lookup(ctx, p, IndexEmail, target.Email)
	if err != nil {
		return err
	}
	fmt.Printf("\n4. After p.Forget(ctx, %q), the same email lookup: %d candidates, %d true matches.\n", target.Subject, n, len(found))
	fmt.Println("   The global index's term is still in the row (clear it, or delete the row, when you")
	fmt.Println("   erase someone): it keeps the row in its class of look-alikes, but no key can open it.")
	if contains(found, target.ID) {
		return fmt.Errorf("search: a forgotten customer was returned as a match")
	}
	return nil
}

// sealAndInsert seals customers in batches (SealAll fetches or creates the
// batch's keys together) and inserts each batch.
func sealAndInsert(ctx context.Context, p *pii.Protector, table Table, people []Customer) error {
	const batch = 1000
	for start := 0; start < len(people); start += batch {
		b := people[start:min(start+batch, len(people))]
		if err := p.SealAll(ctx, b); err != nil {
			return err
		}
		if err := table.Insert(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// planIndexes evaluates each index's bits for these customers (rows and
// distinct normalised values counted from the plaintext).
func planIndexes(plain []Customer) (map[string]blindindex.Plan, error) {
	keys := map[string]func(Customer) string{IndexEmail: emailKey, IndexLast4: last4Key, IndexNameYear: nameYearKey}
	out := map[string]blindindex.Plan{}
	for ix, key := range keys {
		distinct := map[string]bool{}
		for _, c := range plain {
			distinct[key(c)] = true
		}
		pl, err := blindindex.Recommend(blindindex.PlanInput{Rows: uint64(len(plain)), Distinct: uint64(len(distinct)), Bits: indexBits})
		if err != nil {
			return nil, err
		}
		out[ix] = pl
	}
	return out, nil
}

// indexBits is the bits= of Customer's three index tags.
const indexBits = 12

func contains(cs []Customer, id int64) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}

// ownSchema creates a schema of its own on the server and returns a URL
// whose connections use it, and a function that drops it.
func ownSchema(ctx context.Context, server string) (dsn string, drop func(), err error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, fmt.Errorf("search: the PostgreSQL URL does not parse: %w", err)
	}
	db, err := sql.Open("pgx", server)
	if err != nil {
		return "", nil, err
	}
	name := "fieldcrypt_search_" + strings.ToLower(rand.Text()[:10])
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("search: create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		db.ExecContext(context.Background(), `DROP SCHEMA `+name+` CASCADE`)
		db.Close()
	}, nil
}
