package pii_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// pgMembers is the members table on PostgreSQL: email was plaintext, born
// a date column; born_ct is the ciphertext column that replaces it.
type pgMembers struct{ db *pgxpool.Pool }

const pgMembersDDL = `CREATE TABLE members (
	id      bigint PRIMARY KEY,
	subject text NOT NULL,
	email   text NOT NULL,
	born    date,
	born_ct text,
	version bigint NOT NULL DEFAULT 0)`

func (m pgMembers) fetch(ctx context.Context, after string, limit int) ([]BackfillMember, string, error) {
	var from int64 = -1
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil {
			return nil, "", err
		}
		from = n
	}
	rows, err := m.db.Query(ctx, `SELECT id, subject, email, born, born_ct, version FROM members WHERE id > $1 ORDER BY id LIMIT $2`, from, limit)
	if err != nil {
		return nil, "", err
	}
	var out []BackfillMember
	for rows.Next() {
		var r BackfillMember
		var born pgtype.Date
		var bornCT *string
		if err := rows.Scan(&r.ID, &r.Subject, &r.Email, &born, &bornCT, &r.Version); err != nil {
			return nil, "", err
		}
		switch {
		case bornCT != nil:
			if err := r.Born.Scan(*bornCT); err != nil {
				return nil, "", err
			}
		case born.Valid:
			r.Born.Set(born.Time) // a legacy row: plaintext, to be sealed
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) < limit {
		return out, "", nil
	}
	return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
}

// save writes sealed rows, each only if nobody changed it since it was
// read. The Valuers refuse plaintext: a row not sealed cannot be written.
func (m pgMembers) save(ctx context.Context, rows []BackfillMember) (int, error) {
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(`UPDATE members SET email = $1, born_ct = $2, born = NULL, version = version + 1 WHERE id = $3 AND version = $4`, r.Email, r.Born, r.ID, r.Version)
	}
	res := m.db.SendBatch(ctx, b)
	defer res.Close()
	n := 0
	for range rows {
		tag, err := res.Exec()
		if err != nil {
			return n, err
		}
		n += int(tag.RowsAffected())
	}
	return n, res.Close()
}

func memberEmail(id int64) string { return fmt.Sprintf("m%d@example.com", id) }

// TestBackfillPostgres100k encrypts a table of 100,000 rows on PostgreSQL
// (70% plaintext, 30% sealed, a tenth of the subjects' keys rotated), is
// interrupted, resumes, and meanwhile the application keeps updating and
// inserting sealed rows, which the backfill must leave alone.
func TestBackfillPostgres100k(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, pgMembersDDL); err != nil {
		t.Fatal(err)
	}
	tbl := pgMembers{db}
	e := newEnv(t)
	const (
		rows     = 100_000
		subjects = 1_000
	)
	start := time.Now()

	// The table: every third row sealed by the application already.
	var sealed []BackfillMember
	copyRows := make([][]any, 0, rows)
	for id := int64(0); id < rows; id++ {
		subject := "subject-" + strconv.FormatInt(id%subjects, 10)
		if id%10 < 3 {
			sealed = append(sealed, BackfillMember{ID: id, Subject: subject, Email: pii.SealedString(memberEmail(id)), Born: pii.NewSealed(memberBorn(int(id)))})
			continue
		}
		copyRows = append(copyRows, []any{id, subject, memberEmail(id), memberBorn(int(id)), nil})
	}
	if err := e.p.SealAll(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	for _, r := range sealed {
		copyRows = append(copyRows, []any{r.ID, r.Subject, string(r.Email), nil, mustCT(t, r.Born)})
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"members"}, []string{"id", "subject", "email", "born", "born_ct"}, pgx.CopyFromRows(copyRows)); err != nil {
		t.Fatal(err)
	}
	for s := 0; s < subjects; s += 10 { // subjects with sealed rows
		if _, err := e.p.RotateSubjectKey(ctx, "subject-"+strconv.Itoa(s)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("setup: %v", time.Since(start))

	// The application, writing while the backfill runs: updates of
	// random rows and inserts of new ones, always sealed.
	var mu sync.Mutex
	appWrote := map[int64]string{}
	stop := make(chan struct{})
	appDone := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		next := int64(rows)
		for i := 0; ; i++ {
			select {
			case <-stop:
				appDone <- nil
				return
			default:
			}
			id := rng.Int64N(rows)
			insert := i%4 == 0
			if insert {
				id, next = next, next+1
			}
			email := fmt.Sprintf("app%d-%d@example.com", i, id)
			r := BackfillMember{ID: id, Subject: "subject-" + strconv.FormatInt(id%subjects, 10), Email: pii.SealedString(email), Born: pii.NewSealed(memberBorn(int(id)))}
			if err := e.p.Seal(ctx, &r); err != nil {
				appDone <- err
				return
			}
			var err error
			if insert {
				_, err = db.Exec(ctx, `INSERT INTO members (id, subject, email, born_ct) VALUES ($1, $2, $3, $4)`, r.ID, r.Subject, r.Email, r.Born)
			} else {
				_, err = db.Exec(ctx, `UPDATE members SET email = $1, born_ct = $2, born = NULL, version = version + 1 WHERE id = $3`, r.Email, r.Born, r.ID)
			}
			if err != nil {
				appDone <- err
				return
			}
			mu.Lock()
			appWrote[id] = email
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()

	// And on every 10th page, the application updates the page's first row
	// between the backfill's fetch and its save: Save must skip it.
	raced := 0
	fetch := func(ctx context.Context, after string, limit int) ([]BackfillMember, string, error) {
		page, next, err := tbl.fetch(ctx, after, limit)
		if err != nil || len(page) == 0 || page[0].ID%10_000 != 0 {
			return page, next, err
		}
		email := fmt.Sprintf("raced-%d@example.com", page[0].ID)
		r := BackfillMember{ID: page[0].ID, Subject: page[0].Subject, Email: pii.SealedString(email), Born: pii.NewSealed(memberBorn(int(page[0].ID)))}
		if err := e.p.Seal(ctx, &r); err != nil {
			return nil, "", err
		}
		if _, err := db.Exec(ctx, `UPDATE members SET email = $1, born_ct = $2, born = NULL, version = version + 1 WHERE id = $3`, r.Email, r.Born, r.ID); err != nil {
			return nil, "", err
		}
		mu.Lock()
		appWrote[r.ID] = email
		mu.Unlock()
		raced++
		return page, next, nil
	}

	// First run, interrupted after 30 pages.
	opts := pii.BackfillOptions[BackfillMember]{Fetch: fetch, Save: tbl.save, BatchSize: 1000}
	cctx, cancel := context.WithCancel(ctx)
	pages := 0
	opts.Progress = func(pii.BackfillReport) {
		if pages++; pages == 30 {
			cancel()
		}
	}
	first, err := pii.Backfill(cctx, e.p, opts)
	if !errors.Is(err, context.Canceled) || first.Scanned != 30_000 {
		t.Fatalf("interrupted run: %+v, %v", first, err)
	}
	t.Logf("first run: %v: %+v", time.Since(start), first)
	opts.Progress, opts.After = nil, first.Cursor
	second, err := pii.Backfill(ctx, e.p, opts)
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-appDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("second run: %v: %+v (application writes: %d)", time.Since(start), second, len(appWrote))
	if first.Failed+second.Failed != 0 {
		t.Fatalf("failed rows: %v %v", first.Errors, second.Errors)
	}
	if skipped := first.Plaintext + first.OldKey + second.Plaintext + second.OldKey - first.Written - second.Written; skipped < raced/2 {
		t.Errorf("Save skipped %d rows, but the application raced on %d (of which about 7 in 10 plaintext or old)", skipped, raced)
	}
	if second.Scanned < rows-30_000 {
		t.Errorf("resumed run scanned %d rows, want at least %d", second.Scanned, rows-30_000)
	}

	// Nothing remains, and every row opens to its latest value.
	remain, err := pii.Backfill(ctx, e.p, pii.BackfillOptions[BackfillMember]{Fetch: tbl.fetch, DryRun: true, BatchSize: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if remain.Plaintext != 0 || remain.OldKey != 0 || remain.Failed != 0 || remain.Scanned < rows {
		t.Fatalf("after the backfill: %+v", remain)
	}
	var plainLeft int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM members WHERE born IS NOT NULL OR born_ct IS NULL OR email NOT LIKE 'fc%'`).Scan(&plainLeft); err != nil || plainLeft != 0 {
		t.Fatalf("rows still holding plaintext: %d, %v", plainLeft, err)
	}
	checked := 0
	for after := ""; ; {
		page, next, err := tbl.fetch(ctx, after, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.p.OpenAll(ctx, page); err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			want := memberEmail(r.ID)
			if w, ok := appWrote[r.ID]; ok {
				want = w
			}
			b, err := r.Born.Get()
			if string(r.Email) != want || err != nil || !b.Equal(memberBorn(int(r.ID))) {
				t.Fatalf("row %d opened to %q, want %q (born %v)", r.ID, r.Email, want, err)
			}
			checked++
		}
		if next == "" {
			break
		}
		after = next
	}
	t.Logf("verified %d rows: %v", checked, time.Since(start))
}
