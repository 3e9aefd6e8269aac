package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
)

// watchConsent runs s.WatchErasures until the test ends and returns the
// IDs announced as consent changes ("listening" first).
func watchConsent(t *testing.T, s *postgres.Store) <-chan string {
	t.Helper()
	events := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.WatchErasures(ctx, keystore.ErasureEvents{
			Erased:         func(id string) { events <- "erased " + id },
			ConsentChanged: func(id string) { events <- "consent " + id },
			Listening:      func() { events <- "listening" },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchErasures = %v, want context.Canceled", err)
		}
	})
	return events
}

// TestConsentWithdrawalAnnouncedToAnotherInstance: a withdrawal made
// through one Store (one instance) reaches another instance's watcher by
// NOTIFY at commit (no polling), as a consent change, never as an erasure;
// forged consent payloads with invalid IDs are dropped.
func TestConsentWithdrawalAnnouncedToAnotherInstance(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	events := watchConsent(t, a)
	if e := next(t, events); e != "listening" {
		t.Fatalf("first event %q, want listening", e)
	}
	tok := token()
	id := "s." + tok
	notify(t, " consent bad id "+tok)
	start := time.Now()
	if _, err := b.SetConsent(ctx, keystore.ConsentChange{ID: id, Purpose: "marketing", Grant: false, Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, e := range until(t, events, "consent "+id) {
		if strings.Contains(e, tok) {
			mine = append(mine, e)
		}
	}
	if len(mine) != 1 {
		t.Errorf("events %q, want only the consent change of %s", mine, id)
	}
	// Not a measurement: the announcement is pushed at commit; this only
	// catches a regression to polling (seconds) with a wide margin.
	t.Logf("withdrawal seen by the other instance after %v", time.Since(start))
	if cs, err := a.Consents(ctx, id); err != nil || len(cs) != 1 || cs[0].Granted {
		t.Errorf("other instance reads %+v, %v", cs, err)
	}
}

// TestRightsHistoriesAreAppendOnly: the database itself refuses to change
// or remove an entry of the hold, request or consent history.
func TestRightsHistoriesAreAppendOnly(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	if _, err := s.Hold(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendRequest(ctx, keystore.RequestEvent{ID: "a", Action: keystore.RequestReceived, By: "dpo", Ticket: "T-1", Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetConsent(ctx, keystore.ConsentChange{ID: "a", Purpose: "marketing", Grant: true, Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, table := range []string{"fieldcrypt_hold_history", "fieldcrypt_requests", "fieldcrypt_consent_history"} {
		for _, stmt := range []string{`UPDATE ` + table + ` SET id = 'x'`, `DELETE FROM ` + table, `TRUNCATE ` + table} {
			if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused as append-only", stmt, err)
			}
		}
	}
}

// TestMigrationToRights: a version-3 schema is upgraded to 4 (and on) on Open,
// keeping its records.
func TestMigrationToRights(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, m := range postgres.Migrations[:3] {
		if _, err := conn.Exec(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		`CREATE TABLE fieldcrypt_schema (version int NOT NULL)`,
		`INSERT INTO fieldcrypt_schema (version) VALUES (3)`,
		`INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, created, updated) VALUES ('old', 'k', '\x01', '{1}', 1, now(), now())`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if len(postgres.Migrations) != 6 {
		t.Fatalf("%d migrations, want 6", len(postgres.Migrations))
	}
	s := open(t, dsn)
	if v, err := s.SchemaVersion(ctx); err != nil || v != 6 {
		t.Errorf("schema version = %d, %v", v, err)
	}
	if _, err := s.Hold(ctx, "old", keystore.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "old", Reason: "request"}); !errors.Is(err, keystore.ErrHeld) {
		t.Errorf("Delete of a held record after the migration = %v", err)
	}
}
