package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/storetest"
)

func auditEvent(i int) audit.Event {
	return audit.Event{Time: time.Unix(1_700_000_000, int64(i)).UTC(), Op: audit.OpOpen, Type: "Customer", Actor: "job", Outcome: "ok"}
}

// TestAuditTwoInstances: two stores (two instances, two pools) append to
// one chain at once; the chain stays one line, every event in it once.
func TestAuditTwoInstances(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	const each = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*each*2)
	for _, s := range []keystore.AuditLog{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- storetest.AppendEvents(ctx, s, storetest.AuditKey, auditEvent(i), auditEvent(i+1000))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	head, err := audit.Verify(storetest.AuditKey, storetest.AllRows(ctx, b, 33))
	if err != nil || head.Seq != 4*each || head.Events != 4*each*2 {
		t.Fatalf("chain after two instances appended: %+v, %v", head, err)
	}
}

// TestAuditAppendOnly: the triggers refuse UPDATE, DELETE and TRUNCATE.
func TestAuditAppendOnly(t *testing.T) {
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	ctx := context.Background()
	if err := storetest.AppendEvents(ctx, s, storetest.AuditKey, auditEvent(1)); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{`UPDATE fieldcrypt_audit SET events = 'x'`, `DELETE FROM fieldcrypt_audit`, `TRUNCATE fieldcrypt_audit`} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", stmt, err)
		}
	}
}

// TestAuditTamperingFound: a database owner who disables the triggers
// and edits, deletes or reorders rows, or events inside a row (a row holds
// a batch of events), is found by Verify, at the row, with its event
// numbers.
func TestAuditTamperingFound(t *testing.T) {
	const lines = `string_to_array(events, E'\n')`
	cases := []struct {
		name  string
		stmts []string
		want  audit.ChainError
	}{
		{"event edited", []string{`UPDATE fieldcrypt_audit SET events = regexp_replace(events, '"job"', '"bot"') WHERE seq = 3`},
			audit.ChainError{Seq: 3, First: 7, Last: 9, Problem: audit.ProblemEdited}},
		{"event deleted", []string{`UPDATE fieldcrypt_audit SET events = array_to_string((` + lines + `)[1:2], E'\n') WHERE seq = 3`},
			audit.ChainError{Seq: 3, First: 7, Last: 9, Problem: audit.ProblemEdited}},
		{"event deleted and renumbered", []string{`UPDATE fieldcrypt_audit SET events = array_to_string((` + lines + `)[1:2], E'\n'), last_event = 8 WHERE seq = 3`},
			audit.ChainError{Seq: 3, First: 7, Last: 8, Problem: audit.ProblemEdited}},
		{"event inserted", []string{`UPDATE fieldcrypt_audit SET events = events || E'\n' || (` + lines + `)[1] WHERE seq = 3`},
			audit.ChainError{Seq: 3, First: 7, Last: 9, Problem: audit.ProblemEdited}},
		{"events reordered", []string{`UPDATE fieldcrypt_audit SET events = array_to_string(ARRAY[(` + lines + `)[2], (` + lines + `)[1], (` + lines + `)[3]], E'\n') WHERE seq = 3`},
			audit.ChainError{Seq: 3, First: 7, Last: 9, Problem: audit.ProblemEdited}},
		{"row deleted", []string{`DELETE FROM fieldcrypt_audit WHERE seq = 2`}, audit.ChainError{Seq: 3, First: 7, Last: 9, Problem: audit.ProblemMissing}},
		{"rows reordered", []string{
			`UPDATE fieldcrypt_audit SET seq = 1000 WHERE seq = 3`,
			`UPDATE fieldcrypt_audit SET seq = 3 WHERE seq = 4`,
			`UPDATE fieldcrypt_audit SET seq = 4 WHERE seq = 1000`,
		}, audit.ChainError{Seq: 3, First: 10, Last: 12, Problem: audit.ProblemEdited}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.Schema(t)
			s := open(t, dsn)
			ctx := context.Background()
			for i := range 5 {
				if err := storetest.AppendEvents(ctx, s, storetest.AuditKey, auditEvent(3*i), auditEvent(3*i+1), auditEvent(3*i+2)); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, stmt := range append([]string{`ALTER TABLE fieldcrypt_audit DISABLE TRIGGER USER`}, tc.stmts...) {
				if _, err := conn.Exec(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			_, err = audit.Verify(storetest.AuditKey, storetest.AllRows(ctx, s, 100))
			var ce *audit.ChainError
			if !errors.As(err, &ce) || *ce != tc.want {
				t.Fatalf("Verify: %v, want %v", err, &tc.want)
			}
		})
	}
}

// TestAuditBatchesCompressed: the column holding a row's batch of events
// is lz4-compressed on a server built with lz4 (the test server is), the
// cheapest way to store a batch that was measured (see the migration).
func TestAuditBatchesCompressed(t *testing.T) {
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var lz4 bool
	if err := conn.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)`).Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	if !lz4 {
		t.Skip("the server has no lz4")
	}
	var method string
	if err := conn.QueryRow(ctx, `SELECT attcompression::text FROM pg_attribute WHERE attrelid = 'fieldcrypt_audit'::regclass AND attname = 'events'`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if method != "l" {
		t.Fatalf("events column compression %q, want l (lz4)", method)
	}
	batch := make([]audit.Event, 200)
	for i := range batch {
		batch[i] = auditEvent(i)
	}
	if err := storetest.AppendEvents(ctx, s, storetest.AuditKey, batch...); err != nil {
		t.Fatal(err)
	}
	var stored, raw int
	if err := conn.QueryRow(ctx, `SELECT pg_column_size(events), octet_length(events) FROM fieldcrypt_audit`).Scan(&stored, &raw); err != nil {
		t.Fatal(err)
	}
	if stored*4 > raw {
		t.Errorf("a batch of %d bytes stored in %d", raw, stored)
	}
}
