package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for PostgreSQL
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Table is the customers table, in plain database/sql: the same code works
// for sqlc, pgx or any other layer that can bind a list of strings.
type Table struct {
	DB       *sql.DB
	Postgres bool // PostgreSQL ($1, = ANY) rather than SQLite (?, IN)
}

// columns are the table's columns, in Customer's field order.
const columns = `id, subject, first_name, last_name, email, card, birth_date, email_idx, card_last4_idx, name_year_idx`

// Create creates the customers table and a B-tree index on each blind-index
// column (both databases' default index kind).
func (t Table) Create(ctx context.Context) error {
	id := "INTEGER PRIMARY KEY"
	if t.Postgres {
		id = "BIGINT PRIMARY KEY"
	}
	stmts := []string{
		`CREATE TABLE customers (
			id             ` + id + `,
			subject        TEXT NOT NULL,
			first_name     TEXT NOT NULL, -- sealed
			last_name      TEXT NOT NULL, -- sealed
			email          TEXT NOT NULL, -- sealed
			card           TEXT NOT NULL, -- sealed
			birth_date     TEXT NOT NULL, -- sealed
			email_idx      TEXT NOT NULL, -- blind index terms, as "v1:0a3f"
			card_last4_idx TEXT NOT NULL,
			name_year_idx  TEXT NOT NULL
		)`,
		`CREATE INDEX customers_email_idx ON customers (email_idx)`,
		`CREATE INDEX customers_card_last4_idx ON customers (card_last4_idx)`,
		`CREATE INDEX customers_name_year_idx ON customers (name_year_idx)`,
	}
	for _, s := range stmts {
		if _, err := t.DB.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("search: create table: %w", err)
		}
	}
	return nil
}

// insertBatch is the rows per INSERT statement: 10 parameters a row stays
// well under both databases' parameter limits.
const insertBatch = 500

// Insert writes sealed customers in one transaction, several rows per
// statement.
func (t Table) Insert(ctx context.Context, sealed []Customer) error {
	tx, err := t.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var q strings.Builder
	args := make([]any, 0, insertBatch*10)
	for start := 0; start < len(sealed); start += insertBatch {
		rows := sealed[start:min(start+insertBatch, len(sealed))]
		q.Reset()
		args = args[:0]
		q.WriteString(`INSERT INTO customers (` + columns + `) VALUES `)
		for i, c := range rows {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			for j := range 10 {
				if j > 0 {
					q.WriteByte(',')
				}
				q.WriteString(t.param(i*10 + j + 1))
			}
			q.WriteByte(')')
			args = append(args, c.ID, c.Subject, c.FirstName, c.LastName, c.Email, c.Card, c.BirthDate,
				c.EmailIdx, c.Last4Idx, c.NameYearIdx)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("search: insert: %w", err)
		}
	}
	return tx.Commit()
}

func (t Table) param(i int) string {
	if t.Postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// indexColumns maps each index name to its column.
var indexColumns = map[string]string{
	IndexEmail:    "email_idx",
	IndexLast4:    "card_last4_idx",
	IndexNameYear: "name_year_idx",
}

// Lookup finds the customers whose index holds values: it asks pii for the
// terms to look for (one per index key version still in use), fetches the
// rows holding any of them (the candidates: true matches and the false
// positives truncation allows), and lets pii open them and keep the true
// matches. It returns the number of candidates and the matches, opened.
func (t Table) Lookup(ctx context.Context, p *pii.Protector, index string, values ...string) (candidates int, matches []Customer, err error) {
	column, ok := indexColumns[index]
	if !ok {
		return 0, nil, fmt.Errorf("search: no column for index %q", index)
	}
	terms, err := pii.IndexTerms[Customer](ctx, p, index, values...)
	if err != nil {
		return 0, nil, err
	}
	query, args := t.selectTerms(column, terms)
	rows, err := t.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("search: query: %w", err)
	}
	defer rows.Close()
	var cands []Customer
	for rows.Next() {
		var c Customer
		if err := rows.Scan(&c.ID, &c.Subject, &c.FirstName, &c.LastName, &c.Email, &c.Card, &c.BirthDate,
			&c.EmailIdx, &c.Last4Idx, &c.NameYearIdx); err != nil {
			return 0, nil, fmt.Errorf("search: scan: %w", err)
		}
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("search: query: %w", err)
	}
	matches, err = pii.Matches(ctx, p, cands, index, values...)
	return len(cands), matches, err
}

// selectTerms is the query for the rows whose column holds one of terms:
// WHERE column = ANY($1) with a text[] on PostgreSQL, WHERE column IN
// (?, ...) on SQLite, which has no arrays. Either way a B-tree lookup per
// term.
func (t Table) selectTerms(column string, terms []string) (string, []any) {
	q := `SELECT ` + columns + ` FROM customers WHERE ` + column
	if t.Postgres {
		return q + ` = ANY($1)`, []any{terms}
	}
	args := make([]any, len(terms))
	for i, s := range terms {
		args[i] = s
	}
	return q + ` IN (?` + strings.Repeat(`,?`, len(terms)-1) + `)`, args
}

// Plan returns the database's query plan for a lookup on column, as text
// (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite), to show that the
// lookup is a B-tree index search and not a scan.
func (t Table) Plan(ctx context.Context, column string, terms []string) (string, error) {
	query, args := t.selectTerms(column, terms)
	if t.Postgres {
		query = `EXPLAIN ` + query
	} else {
		query = `EXPLAIN QUERY PLAN ` + query
	}
	rows, err := t.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		out = append(out, fmt.Sprint(vals[len(vals)-1]))
	}
	return strings.Join(out, "\n"), rows.Err()
}
