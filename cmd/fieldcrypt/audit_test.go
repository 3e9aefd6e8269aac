package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// auditEnv makes an SQLite store whose audit trail holds seven rows (Seal
// and Open of three customers, through pii.AuditTable, one row each; then
// a batch of three Opens in one row, as an audit.Writer stores them: nine
// events), and returns the store and KEK specs and the database file.
func auditEnv(t *testing.T) (store, kek, file string) {
	t.Helper()
	dir := t.TempDir()
	p0, done0 := app(t, dir)
	table, err := pii.NewAuditTable(p0)
	if err != nil {
		t.Fatal(err)
	}
	p, done := app(t, dir, pii.WithAuditor(table))
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "billing-job", Purpose: "billing"})
	for _, id := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		c := Customer{ID: id, Name: "Ada"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if err := p.Open(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	batch := audit.NewWriter(table, audit.WriterOptions{Batch: 3, FlushInterval: time.Hour})
	pb, doneb := app(t, dir, pii.WithAuditor(batch))
	for _, id := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		c := Customer{ID: id, Name: "Ada"}
		if err := p0.Seal(ctx, &c); err != nil { // unaudited
			t.Fatal(err)
		}
		if err := pb.Open(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	doneb()
	done()
	done0()
	file = filepath.Join(dir, "keys.db")
	return "sqlite:" + file, "local:" + filepath.Join(dir, "kek.json"), file
}

// tamper changes the audit table as the database's owner can: dropping
// the append-only triggers first.
func tamper(t *testing.T, file string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range append([]string{
		`DROP TRIGGER fieldcrypt_audit_no_update`, `DROP TRIGGER fieldcrypt_audit_no_delete`,
	}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestAuditVerifyCLI(t *testing.T) {
	store, kek, _ := auditEnv(t)
	out, _ := fieldcrypt(t, "audit", "verify", "--store", store, "--kek", kek)
	if !strings.Contains(out, "intact: 7 rows, 9 events") {
		t.Fatalf("verify: %s", out)
	}
	head, _ := fieldcrypt(t, "audit", "head", "--store", store, "--kek", kek)
	head = strings.TrimSpace(head)
	if !strings.HasPrefix(head, "7:") || len(head) != 2+64 {
		t.Fatalf("head %q", head)
	}
	out, _ = fieldcrypt(t, "audit", "verify", "--store", store, "--kek", kek, "--anchor", head)
	if !strings.Contains(out, "intact: 7 rows, 9 events") {
		t.Fatalf("verify with its own head: %s", out)
	}
	for _, bad := range []string{"7", "x:00", "0:" + strings.Repeat("00", 32), "6:abcd"} {
		if code, _, _ := fieldcryptExit(t, "", "audit", "verify", "--store", store, "--kek", kek, "--anchor", bad); code != exitUsage {
			t.Errorf("--anchor %q: exit %d", bad, code)
		}
	}
	// The events hold no identifier and no value.
	rows, err := sql.Open("sqlite", strings.TrimPrefix(store, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all string
	if err := rows.QueryRow(`SELECT group_concat(events, ' ') FROM fieldcrypt_audit`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(all, "example.com") || strings.Contains(all, "Ada") || !strings.Contains(all, `"actor":"billing-job"`) {
		t.Fatalf("stored events: %s", all)
	}
}

// TestAuditVerifyFindsTampering: rows edited, deleted, reordered or cut
// off the end directly in the database make audit verify fail, naming the
// row, with a non-zero exit status.
func TestAuditVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name   string
		stmts  []string
		anchor bool
		want   string
	}{
		{"edited", []string{`UPDATE fieldcrypt_audit SET events = replace(events, 'billing-job', 'support-bot') WHERE seq = 3`}, false, "row 3 (events 3-3 as stored): row edited"},
		{"event in a batch edited", []string{`UPDATE fieldcrypt_audit SET events = replace(events, '"opened":', '"masked":') WHERE seq = 7`}, false, "row 7 (events 7-9 as stored): row edited"},
		{"event in a batch deleted", []string{`UPDATE fieldcrypt_audit SET events = substr(events, instr(events, char(10)) + 1) WHERE seq = 7`}, false, "row 7 (events 7-9 as stored): row edited"},
		{"events in a batch reordered", []string{ // the first line moved to the end
			`UPDATE fieldcrypt_audit SET events = substr(events, instr(events, char(10)) + 1) || char(10) || substr(events, 1, instr(events, char(10)) - 1) WHERE seq = 7`,
		}, false, "row 7 (events 7-9 as stored): row edited"},
		{"deleted", []string{`DELETE FROM fieldcrypt_audit WHERE seq = 3`}, false, "row 4 (events 4-4 as stored): rows missing"},
		{"reordered", []string{
			`UPDATE fieldcrypt_audit SET seq = -2 WHERE seq = 2`,
			`UPDATE fieldcrypt_audit SET seq = 2 WHERE seq = 3`,
			`UPDATE fieldcrypt_audit SET seq = 3 WHERE seq = -2`,
		}, false, "row 2 (events 3-3 as stored): row edited"},
		{"renumbered", []string{ // a row deleted and the rest renumbered to hide the gap
			`DELETE FROM fieldcrypt_audit WHERE seq = 3`,
			`UPDATE fieldcrypt_audit SET seq = seq - 1 WHERE seq > 3`,
		}, false, "row 3 (events 4-4 as stored): row edited"},
		{"mac replaced", []string{`UPDATE fieldcrypt_audit SET mac = zeroblob(32) WHERE seq = 4`}, false, "row 4 (events 4-4 as stored): row edited"},
		{"cut off the end", []string{`DELETE FROM fieldcrypt_audit WHERE seq = 7`}, true, "row 6: rows cut off the end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, kek, file := auditEnv(t)
			head, _ := fieldcrypt(t, "audit", "head", "--store", store, "--kek", kek)
			tamper(t, file, tc.stmts...)
			args := []string{"audit", "verify", "--store", store, "--kek", kek}
			if tc.anchor {
				args = append(args, "--anchor", strings.TrimSpace(head))
			}
			code, out, errOut := fieldcryptExit(t, "", args...)
			if code == 0 || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d, want non-zero and %q\n%s%s", code, tc.want, out, errOut)
			}
			if code, _, _ := fieldcryptExit(t, "", "audit", "head", "--store", store, "--kek", kek); code == 0 && !tc.anchor {
				t.Error("audit head printed the head of a broken chain")
			}
		})
	}
}
