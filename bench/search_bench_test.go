package bench

// Search on encrypted fields (issue 9): what blind-index fields add to
// Seal, and what a lookup through an index column costs on PostgreSQL
// against the same lookup on a plaintext column. The cost of one term
// against one raw HMAC-SHA256 is in blindindex (BenchmarkTerm).

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Fields6Indexed is Fields6 with two blind indexes: one over an email-like
// field, one compound over two fields (as "last name + birth year").
type Fields6Indexed struct {
	ID   string `pii:"subject"`
	F00  string `pii:"encrypt"`
	F01  string `pii:"encrypt"`
	F02  string `pii:"encrypt"`
	F03  string `pii:"encrypt"`
	F04  string `pii:"encrypt"`
	F05  string `pii:"encrypt"`
	Idx1 string `pii:"index=F00,transform=trim+fold,bits=16"`
	Idx2 string `pii:"index=F01+F02,transform=nfkc+trim+fold|first4,bits=16"`
}

func newFields6Indexed(id string) Fields6Indexed {
	f := newFields6(id)
	return Fields6Indexed{ID: f.ID, F00: f.F00, F01: f.F01, F02: f.F02, F03: f.F03, F04: f.F04, F05: f.F05}
}

// BenchmarkSearchSeal is a warm Seal of 6 encrypted fields, without and
// with two blind indexes over them (goal: indexes=2 ≤ 1.4× indexes=0).
func BenchmarkSearchSeal(b *testing.B) {
	b.Run("indexes=0", func(b *testing.B) { benchSealOnly(b, newFields6) })
	b.Run("indexes=2", func(b *testing.B) { benchSealOnly(b, newFields6Indexed) })
}

func benchSealOnly[T any](b *testing.B, fresh func(string) T) {
	ctx := context.Background()
	p := newProtector(b, memory.New())
	plain := fresh("subject-1")
	warm := plain
	if err := p.Seal(ctx, &warm); err != nil { // creates and caches the keys
		b.Fatal(err)
	}
	b.SetBytes(32 * 6)
	b.ReportAllocs()
	for b.Loop() {
		v := plain
		if err := p.Seal(ctx, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// Lookup benchmark: two tables of lookupRows customers over
// lookupSubjects subjects, identical but for the email: sealed with a
// blind-index column beside it, or in plaintext (normalised, as an
// application would store it to look it up). Both have a B-tree index on
// the looked-up column.
const (
	lookupRows     = 100_000
	lookupSubjects = 2_000
)

// SearchCustomer is the sealed table's row: 5 sealed fields and an email
// index at the planner's recommendation for 100,000 rows of distinct
// emails (15 bits: about 3 rows per term).
type SearchCustomer struct {
	ID        int64
	Subject   string `pii:"subject"`
	FirstName string `pii:"encrypt"`
	LastName  string `pii:"encrypt"`
	Email     string `pii:"encrypt"`
	Card      string `pii:"encrypt"`
	BirthDate string `pii:"encrypt"`
	EmailIdx  string `pii:"index=Email,transform=trim+fold,bits=15,name=email"`
}

// SearchCustomer24 is SearchCustomer with a 24-bit email index: outside
// the planner's rule for 100,000 rows (most terms single out one row), so
// that a lookup returns about one candidate. It isolates what the index
// costs beyond the rows the rule makes a lookup read.
type SearchCustomer24 struct {
	ID        int64
	Subject   string `pii:"subject"`
	FirstName string `pii:"encrypt"`
	LastName  string `pii:"encrypt"`
	Email     string `pii:"encrypt"`
	Card      string `pii:"encrypt"`
	BirthDate string `pii:"encrypt"`
	EmailIdx  string `pii:"index=Email,transform=trim+fold,bits=24,name=email"`
}

const searchColumns = `id, subject, first_name, last_name, email, card, birth_date, email_idx`

func searchPerson(i int) SearchCustomer {
	return SearchCustomer{
		ID:        int64(i + 1),
		Subject:   fmt.Sprintf("subject-%05d", i%lookupSubjects),
		FirstName: "Grace",
		LastName:  fmt.Sprintf("Hopper%05d", i%5000),
		Email:     searchEmail(i),
		Card:      fmt.Sprintf("4000 1234 %04d %04d", i/10000, i%10000),
		BirthDate: fmt.Sprintf("19%02d-%02d-%02d", 40+i%60, 1+i%12, 1+i%28),
	}
}

func searchEmail(i int) string { return fmt.Sprintf("grace.hopper.%06d@example.com", i) }

// BenchmarkSearchLookup looks up one customer by email per iteration,
// rows opened included (goal: column=index ≤ 1.5× column=plaintext):
//
//   - column=index: pii.IndexTerms, SELECT ... WHERE email_idx = ANY($1)
//     (about 4 candidate rows), pii.Matches (opens every candidate, keeps
//     the true match);
//   - column=plaintext: SELECT ... WHERE email = $1 (one row), nothing to
//     open;
//   - column=index/query-only: column=index's query alone, to split its
//     time between the database and fieldcrypt;
//   - column=index/bits=24: column=index on a 24-bit index, outside the
//     rule (about one candidate): what the index costs beyond the extra
//     rows the rule makes every lookup read.
//
// Both through database/sql with pgx's stdlib driver, one connection.
func BenchmarkSearchLookup(b *testing.B) {
	dsn := pgtest.Schema(b)
	ctx := context.Background()
	pl, err := blindindex.Recommend(blindindex.PlanInput{Rows: lookupRows, Distinct: lookupRows})
	if err != nil {
		b.Fatal(err)
	}
	if pl.Bits != 15 {
		b.Fatalf("the planner recommends %d bits for %d distinct emails; SearchCustomer's tag has 15", pl.Bits, lookupRows)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	p := newProtector(b, memory.New())
	if err := loadSearchTables(ctx, db, p); err != nil {
		b.Fatal(err)
	}

	b.Run("column=plaintext", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			email := searchEmail(r.IntN(lookupRows))
			rows, err := db.QueryContext(ctx, `SELECT `+searchColumns+` FROM customers_plain WHERE email = $1`, email)
			if err != nil {
				b.Fatal(err)
			}
			found, err := scanSearch[SearchCustomer](rows)
			if err != nil || len(found) != 1 {
				b.Fatalf("%d rows, %v", len(found), err)
			}
		}
	})
	// Where the time of column=index goes: the query alone, without
	// IndexTerms and Matches.
	b.Run("column=index/query-only", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		terms := make([][]string, 1000)
		for i := range terms {
			var err error
			if terms[i], err = pii.IndexTerms[SearchCustomer](ctx, p, "email", searchEmail(r.IntN(lookupRows))); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			rows, err := db.QueryContext(ctx, `SELECT `+searchColumns+` FROM customers_sealed WHERE email_idx = ANY($1)`, terms[i%1000])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := scanSearch[SearchCustomer](rows); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("column=index", func(b *testing.B) { benchIndexLookup[SearchCustomer](b, db, p, "customers_sealed") })
	b.Run("column=index/bits=24", func(b *testing.B) { benchIndexLookup[SearchCustomer24](b, db, p, "customers_sealed24") })
}

// benchIndexLookup is one lookup through a blind-index column per
// iteration: terms, query, Matches.
func benchIndexLookup[T SearchCustomer | SearchCustomer24](b *testing.B, db *sql.DB, p *pii.Protector, table string) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	candidates := 0
	b.ReportAllocs()
	for b.Loop() {
		email := strings.ToUpper(searchEmail(r.IntN(lookupRows)))
		terms, err := pii.IndexTerms[T](ctx, p, "email", email)
		if err != nil {
			b.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, `SELECT `+searchColumns+` FROM `+table+` WHERE email_idx = ANY($1)`, terms)
		if err != nil {
			b.Fatal(err)
		}
		cands, err := scanSearch[T](rows)
		if err != nil {
			b.Fatal(err)
		}
		candidates += len(cands)
		found, err := pii.Matches(ctx, p, cands, "email", email)
		if err != nil || len(found) != 1 {
			b.Fatalf("%d matches, %v", len(found), err)
		}
	}
	b.ReportMetric(float64(candidates)/float64(b.N), "candidates/op")
}

// loadSearchTables creates and fills customers_sealed and customers_plain.
func loadSearchTables(ctx context.Context, db *sql.DB, p *pii.Protector) error {
	for _, s := range []string{
		`CREATE TABLE customers_sealed (id BIGINT PRIMARY KEY, subject TEXT NOT NULL, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
			email TEXT NOT NULL, card TEXT NOT NULL, birth_date TEXT NOT NULL, email_idx TEXT NOT NULL)`,
		`CREATE TABLE customers_plain (LIKE customers_sealed INCLUDING ALL)`,
		`CREATE TABLE customers_sealed24 (LIKE customers_sealed INCLUDING ALL)`,
		`CREATE INDEX ON customers_sealed (email_idx)`,
		`CREATE INDEX ON customers_sealed24 (email_idx)`,
		`CREATE INDEX ON customers_plain (email)`,
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	const batch = 1000
	for start := 0; start < lookupRows; start += batch {
		plain := make([]SearchCustomer, batch)
		for i := range plain {
			plain[i] = searchPerson(start + i)
		}
		sealed := append([]SearchCustomer(nil), plain...)
		if err := p.SealAll(ctx, sealed); err != nil {
			return err
		}
		if err := insertSearch(ctx, db, "customers_sealed", sealed); err != nil {
			return err
		}
		if err := insertSearch(ctx, db, "customers_plain", plain); err != nil {
			return err
		}
		sealed24 := make([]SearchCustomer24, len(plain))
		for i, c := range plain {
			sealed24[i] = SearchCustomer24(c)
		}
		if err := p.SealAll(ctx, sealed24); err != nil {
			return err
		}
		if err := insertSearch(ctx, db, "customers_sealed24", sealed24); err != nil {
			return err
		}
	}
	for _, t := range []string{"customers_sealed", "customers_sealed24", "customers_plain"} {
		if _, err := db.ExecContext(ctx, `ANALYZE `+t); err != nil {
			return err
		}
	}
	return nil
}

func insertSearch[T SearchCustomer | SearchCustomer24](ctx context.Context, db *sql.DB, table string, rows []T) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO ` + table + ` (` + searchColumns + `) VALUES `)
	args := make([]any, 0, len(rows)*8)
	for i, r := range rows {
		c := SearchCustomer(r)
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", i*8+1, i*8+2, i*8+3, i*8+4, i*8+5, i*8+6, i*8+7, i*8+8)
		args = append(args, c.ID, c.Subject, c.FirstName, c.LastName, c.Email, c.Card, c.BirthDate, c.EmailIdx)
	}
	_, err := db.ExecContext(ctx, q.String(), args...)
	return err
}

func scanSearch[T SearchCustomer | SearchCustomer24](rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var c SearchCustomer
		if err := rows.Scan(&c.ID, &c.Subject, &c.FirstName, &c.LastName, &c.Email, &c.Card, &c.BirthDate, &c.EmailIdx); err != nil {
			return nil, err
		}
		out = append(out, T(c))
	}
	return out, rows.Err()
}
