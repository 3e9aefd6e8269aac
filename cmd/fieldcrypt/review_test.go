package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// restoreFixture is a store in which Ada was erased after a backup, with
// the exported tombstones, and then restored from that backup: Ada's key
// is back. Grace was never erased.
type restoreFixture struct {
	dir, store, kek, tombstones string
	ada, grace                  Customer
}

func newRestoreFixture(t *testing.T) *restoreFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	fx := &restoreFixture{
		dir: dir, store: "sqlite:" + filepath.Join(dir, "keys.db"), kek: "local:" + filepath.Join(dir, "kek.json"),
		tombstones: filepath.Join(dir, "tombstones.jsonl"),
		ada:        Customer{ID: "ada", Name: "Ada"}, grace: Customer{ID: "grace", Name: "Grace"},
	}
	p, done := app(t, dir)
	if err := p.SealAll(ctx, []*Customer{&fx.ada, &fx.grace}); err != nil {
		t.Fatal(err)
	}
	done()
	copyFile(t, filepath.Join(dir, "keys.db"), filepath.Join(dir, "backup.db"))
	p, done = app(t, dir)
	if _, err := p.Forget(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	done()
	fieldcrypt(t, "keys", "export-tombstones", "--store", fx.store, "--kek", fx.kek, "--out", fx.tombstones)
	fx.restore(t)
	return fx
}

// restore replaces the store by the backup.
func (fx *restoreFixture) restore(t *testing.T) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(fx.dir, "keys.db"+suffix))
	}
	copyFile(t, filepath.Join(fx.dir, "backup.db"), filepath.Join(fx.dir, "keys.db"))
}

// opens reports whether c's sealed value still opens.
func (fx *restoreFixture) opens(t *testing.T, c Customer) bool {
	t.Helper()
	p, done := app(t, fx.dir)
	defer done()
	err := p.Open(context.Background(), &c)
	if err != nil && !errors.Is(err, pii.ErrForgotten) && !errors.Is(err, pii.ErrKeyNotFound) {
		t.Fatalf("Open: %v", err)
	}
	return err == nil
}

// lines reads the tombstone file as JSON objects.
func (fx *restoreFixture) lines(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(fx.tombstones)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func (fx *restoreFixture) write(t *testing.T, lines []map[string]any) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(fx.tombstones, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// recordIDs returns every record ID in the store, to show nothing changed.
func recordIDs(t *testing.T, path string) []string {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	if err := eachRecord(context.Background(), s, "", func(r keystore.Record) error { ids = append(ids, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestReviewM6ForgedGlobalIDRefused(t *testing.T) {
	fx := newRestoreFixture(t)
	before := recordIDs(t, filepath.Join(fx.dir, "keys.db"))
	lines := fx.lines(t)
	forged := map[string]any{"id": "fieldcrypt.global", "erased_at": lines[0]["erased_at"], "reason": "request", "mac": lines[0]["mac"]}
	fx.write(t, append(lines, forged))
	// Refused with a MAC check, and even with --unauthenticated --yes.
	for _, extra := range [][]string{{"--kek", fx.kek, "--yes"}, {"--unauthenticated", "--yes"}} {
		args := append([]string{"keys", "reapply-tombstones", "--store", fx.store, "--from", fx.tombstones}, extra...)
		code, out, errOut := fieldcryptExit(t, "", args...)
		if code == 0 || !strings.Contains(errOut, "not a subject key ID") || !strings.Contains(errOut, "nothing was changed") || out != "" {
			t.Errorf("%v: exit %d\n%s%s", extra, code, out, errOut)
		}
	}
	if after := recordIDs(t, filepath.Join(fx.dir, "keys.db")); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("the refused file changed the store: %v, was %v", after, before)
	}
	if !fx.opens(t, fx.grace) || !fx.opens(t, fx.ada) {
		t.Error("a refused file erased someone")
	}
}

func TestReviewM6ForgedLineBadMACRefused(t *testing.T) {
	fx := newRestoreFixture(t)
	lines := fx.lines(t)
	// Grace's record ID, with Ada's MAC: a well-formed subject ID that an
	// attacker wants erased.
	var graceID string
	for _, id := range recordIDs(t, filepath.Join(fx.dir, "keys.db")) {
		if id != lines[0]["id"] && id != globalRecordID {
			graceID = id
		}
	}
	forged := map[string]any{"id": graceID, "erased_at": lines[0]["erased_at"], "reason": "request", "mac": lines[0]["mac"]}
	noMAC := map[string]any{"id": graceID, "erased_at": lines[0]["erased_at"], "reason": "request"}
	for name, bad := range map[string]map[string]any{"wrong MAC": forged, "no MAC": noMAC} {
		fx.write(t, append(lines, bad))
		code, _, errOut := fieldcryptExit(t, "", "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones, "--yes")
		if code == 0 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "nothing was changed") {
			t.Errorf("%s: exit %d: %s", name, code, errOut)
		}
		if !fx.opens(t, fx.grace) {
			t.Fatalf("%s: a forged line erased Grace", name)
		}
		if !fx.opens(t, fx.ada) {
			t.Fatalf("%s: a refused file still erased Ada (the file must be refused as a whole)", name)
		}
	}
	// An old export without MACs is accepted only with --unauthenticated,
	// which warns.
	old := fx.lines(t)[:1]
	delete(old[0], "mac")
	fx.write(t, old)
	code, _, errOut := fieldcryptExit(t, "", "keys", "reapply-tombstones", "--store", fx.store, "--from", fx.tombstones, "--unauthenticated", "--yes")
	if code != 0 || !strings.Contains(errOut, "WARNING") || !strings.Contains(errOut, "1 resurrected keys erased again") {
		t.Errorf("--unauthenticated with an old export: exit %d: %s", code, errOut)
	}
	if fx.opens(t, fx.ada) || !fx.opens(t, fx.grace) {
		t.Error("--unauthenticated did not reapply the old export")
	}
}

func TestReviewM6ReadmittedSubjectSurvivesReapply(t *testing.T) {
	ctx := context.Background()
	fx := newRestoreFixture(t)
	// Ada comes back after the export: readmitted, with a new key and new
	// data. The restore happened before; reapply now finds her new key.
	fieldcrypt(t, "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones, "--yes")
	p, done := app(t, fx.dir)
	if err := p.Readmit(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	back := Customer{ID: "ada", Name: "Ada, back"}
	if err := p.Seal(ctx, &back); err != nil {
		t.Fatal(err)
	}
	done()
	out, _ := fieldcrypt(t, "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones, "--dry-run")
	if !strings.Contains(out, "would erase 0 live keys") || !strings.Contains(out, "keep 1 readmitted") {
		t.Errorf("dry run: %s", out)
	}
	out, errOut := fieldcrypt(t, "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones)
	if out != "" || !strings.Contains(errOut, "readmitted since") || !strings.Contains(errOut, "0 resurrected keys") {
		t.Errorf("reapply after a readmission:\n%s%s", out, errOut)
	}
	if !fx.opens(t, back) {
		t.Error("reapply erased the readmitted subject's new key")
	}
}

func TestReviewM6DryRunAndYes(t *testing.T) {
	fx := newRestoreFixture(t)
	out, _ := fieldcrypt(t, "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones, "--dry-run")
	if !strings.Contains(out, "would erase 1 live keys") {
		t.Errorf("dry run: %s", out)
	}
	code, _, errOut := fieldcryptExit(t, "", "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones)
	if code == 0 || !strings.Contains(errOut, "--yes") {
		t.Errorf("without --yes: exit %d: %s", code, errOut)
	}
	if !fx.opens(t, fx.ada) {
		t.Fatal("--dry-run or a run without --yes erased a key")
	}
	fieldcrypt(t, "keys", "reapply-tombstones", "--store", fx.store, "--kek", fx.kek, "--from", fx.tombstones, "--yes")
	if fx.opens(t, fx.ada) || !fx.opens(t, fx.grace) {
		t.Error("--yes did not erase exactly Ada")
	}
}

// TestReviewM6TombstonesRestoredWithoutYes: restored from a backup taken
// before Ada had a key, the store has neither her key nor her tombstone.
// Writing the tombstone erases nothing live, so it needs no --yes.
func TestReviewM6TombstonesRestoredWithoutYes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, kek := "sqlite:"+filepath.Join(dir, "keys.db"), "local:"+filepath.Join(dir, "kek.json")
	tombstones := filepath.Join(dir, "tombstones.jsonl")
	p, done := app(t, dir)
	done()
	copyFile(t, filepath.Join(dir, "keys.db"), filepath.Join(dir, "backup.db"))
	p, done = app(t, dir)
	if err := p.Seal(ctx, &Customer{ID: "ada", Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forget(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	done()
	fieldcrypt(t, "keys", "export-tombstones", "--store", store, "--kek", kek, "--out", tombstones)
	fx := &restoreFixture{dir: dir}
	fx.restore(t)

	_, errOut := fieldcrypt(t, "keys", "reapply-tombstones", "--store", store, "--kek", kek, "--from", tombstones)
	if !strings.Contains(errOut, "1 tombstones restored") {
		t.Errorf("reapply: %s", errOut)
	}
	p, done = app(t, dir)
	defer done()
	if err := p.Seal(ctx, &Customer{ID: "ada", Name: "x"}); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Seal of Ada after the tombstone was restored: %v, want ErrForgotten", err)
	}
}

// TestReviewH1StaleMigrateBatchSkipped: records read by keys migrate and
// changed before it writes them (one rotated, one erased and readmitted
// with a new key) are skipped and counted, never overwritten.
func TestReviewH1StaleMigrateBatchSkipped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, done := app(t, dir)
	if err := p.SealAll(ctx, []*Customer{{ID: "ada", Name: "Ada"}, {ID: "grace", Name: "Grace"}}); err != nil {
		t.Fatal(err)
	}
	done()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stale []keystore.Record
	eachRecord(ctx, s, "", func(r keystore.Record) error {
		if r.ID != globalRecordID {
			stale = append(stale, r)
		}
		return nil
	})
	p, done = app(t, dir)
	back := Customer{ID: "ada", Name: "Ada, back"}
	if _, err := p.Forget(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := p.Readmit(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := p.Seal(ctx, &back); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RotateSubjectKey(ctx, "grace"); err != nil {
		t.Fatal(err)
	}
	done()

	from, err := local.Open(filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	to, err := local.Open(filepath.Join(dir, "other.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tl tally
	if err := migrateRecords(ctx, s, from, to, stale, &tl, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if tl.done != 0 || tl.skipped != 2 || tl.stale != 2 || !strings.Contains(tl.String(), "changed or were erased meanwhile") {
		t.Errorf("stale batch: %s", tl)
	}
	p, done = app(t, dir)
	defer done()
	if err := p.Open(ctx, &back); err != nil || back.Name != "Ada, back" {
		t.Errorf("the readmitted subject's new key was overwritten: %v", err)
	}
}

func TestReviewL6VerifyErasedOnMistypedStore(t *testing.T) {
	dir := t.TempDir()
	p, done := app(t, dir)
	if _, err := p.Forget(context.Background(), "ada"); err != nil {
		t.Fatal(err)
	}
	done()
	kek := "local:" + filepath.Join(dir, "kek.json")
	typo := filepath.Join(dir, "kyes.db")
	code, out, errOut := fieldcryptExit(t, "", "keys", "verify-erased", "--store", "sqlite:"+typo, "--kek", kek, "ada")
	if code == 0 || !strings.HasPrefix(out, "unknown") || !strings.Contains(out, "store: sqlite:"+typo) || !strings.Contains(errOut, "does not exist") {
		t.Errorf("mistyped store: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("verify-erased created the mistyped store: %v", err)
	}
	code, out, _ = fieldcryptExit(t, "", "keys", "verify-erased", "--store", "sqlite:", "--kek", kek, "ada")
	if code == 0 || strings.Contains(out, "not erased") {
		t.Errorf("empty store path: exit %d: %s", code, out)
	}
	// A store that exists but has no global keys: "unknown", and none are
	// minted.
	empty := filepath.Join(dir, "empty.db")
	fieldcrypt(t, "keystore", "migrate", "--store", "sqlite:"+empty)
	code, out, errOut = fieldcryptExit(t, "", "keys", "verify-erased", "--store", "sqlite:"+empty, "--kek", kek, "ada")
	if code == 0 || !strings.HasPrefix(out, "unknown") || !strings.Contains(errOut, "no global keys") {
		t.Errorf("store without global keys: exit %d\n%s%s", code, out, errOut)
	}
	if ids := recordIDs(t, empty); len(ids) != 0 {
		t.Errorf("verify-erased created records %v", ids)
	}
	// The real store answers, and says which store and KEK it used.
	out, _ = fieldcrypt(t, "keys", "verify-erased", "--store", "sqlite:"+filepath.Join(dir, "keys.db"), "--kek", kek, "ada")
	if !strings.HasPrefix(out, "erased at") || !strings.Contains(out, "kek: "+kek) {
		t.Errorf("verify-erased: %s", out)
	}
}

func TestReviewL6VerifyErasedSubjectFromStdin(t *testing.T) {
	dir := t.TempDir()
	p, done := app(t, dir)
	if _, err := p.Forget(context.Background(), "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	done()
	store, kek := "sqlite:"+filepath.Join(dir, "keys.db"), "local:"+filepath.Join(dir, "kek.json")
	code, out, errOut := fieldcryptExit(t, "ada@example.com\n", "keys", "verify-erased", "--store", store, "--kek", kek, "-")
	if code != 0 || !strings.HasPrefix(out, "erased at") {
		t.Errorf("subject on stdin: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := fieldcryptExit(t, "", "keys", "verify-erased", "--store", store, "--kek", kek, "-"); code != 2 {
		t.Errorf("empty stdin: exit %d, want 2", code)
	}
}

// TestReviewL6EveryCommandRefusesMissingStore: only keystore migrate
// creates a store.
func TestReviewL6EveryCommandRefusesMissingStore(t *testing.T) {
	dir := t.TempDir()
	kek := "local:" + filepath.Join(dir, "kek.json")
	if _, err := local.Open(filepath.Join(dir, "kek.json")); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.db")
	for _, c := range commands {
		if c.group == "keystore" && c.name == "migrate" || c.group == "index" && c.name == "plan" || c.group == "datamap" {
			continue // creates the store; index plan and datamap open none
		}
		args := []string{c.group, c.name, "--store", "sqlite:" + typo}
		switch c.name {
		case "rewrap":
			continue // needs Vault, and opens the store after the KEK (covered below with migrate)
		case "migrate":
			args = append(args, "--from", kek, "--to", kek)
		case "verify-erased":
			args = append(args, "--kek", kek, "ada")
		case "export-tombstones", "reapply-tombstones":
			args = append(args, "--kek", kek)
		case "forget":
			args = append(args, "--kek", kek, "--ticket", "T-1", "--by", "dpo", "ada")
		case "hold", "release":
			args = append(args, "--kek", kek, "--reference", "CASE-1", "--by", "legal", "ada")
		case "grant", "withdraw":
			args = append(args, "--kek", kek, "--purpose", "marketing", "--actor", "web", "ada")
		case "show", "history", "rotate-subject":
			args = append(args, "--kek", kek, "ada")
		case "rotate-token-key", "rotate-key", "status":
			if c.group != "keys" || c.name != "status" {
				args = append(args, "--kek", kek)
			}
		}
		code, _, errOut := fieldcryptExit(t, "", args...)
		if code == 0 || !strings.Contains(errOut, "does not exist") || !strings.Contains(errOut, "only keystore migrate creates a store") {
			t.Errorf("%s %s on a missing store: exit %d: %s", c.group, c.name, code, errOut)
		}
		if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s %s created the missing store", c.group, c.name)
		}
	}
	fieldcrypt(t, "keystore", "migrate", "--store", "sqlite:"+typo)
	if _, err := os.Stat(typo); err != nil {
		t.Errorf("keystore migrate did not create the store: %v", err)
	}
}

func TestReviewL6PostgresMissingSchemaRefused(t *testing.T) {
	dsn := pgtest.Schema(t)
	code, _, errOut := fieldcryptExit(t, "", "keys", "status", "--store", dsn)
	if code == 0 || !strings.Contains(errOut, "only keystore migrate creates a store") {
		t.Errorf("status on an empty schema: exit %d: %s", code, errOut)
	}
	code, _, _ = fieldcryptExit(t, "", "keys", "status", "--store", dsn)
	if code == 0 {
		t.Error("the first status created the schema")
	}
	fieldcrypt(t, "keystore", "migrate", "--store", dsn)
	fieldcrypt(t, "keys", "status", "--store", dsn)
}

func TestReviewL7ErrorsDoNotEchoPasswords(t *testing.T) {
	for _, spec := range []string{
		"host=db.internal user=app password=hunter2 dbname=keys",
		"host=db.internal password = 'hunter2' dbname=keys",
		"mysql://app:hunter2@db.internal/keys",
		"postgres://app:hunter2@127.0.0.1:1/keys?sslmode=disable&connect_timeout=1",
		"postgres://app@127.0.0.1:1/keys?password=hunter2&sslmode=disable&connect_timeout=1",
		"postgres://app:hunter2@[::1/keys",
	} {
		code, out, errOut := fieldcryptExit(t, "", "keys", "status", "--store", spec)
		if code == 0 || strings.Contains(out+errOut, "hunter2") {
			t.Errorf("--store %q: exit %d: %s", spec, code, errOut)
		}
		t.Setenv("FIELDCRYPT_STORE", spec)
		code, out, errOut = fieldcryptExit(t, "", "keys", "status")
		if code == 0 || strings.Contains(out+errOut, "hunter2") {
			t.Errorf("$FIELDCRYPT_STORE %q: exit %d: %s", spec, code, errOut)
		}
		// -h prints the flags' defaults: never the environment's store.
		_, out, errOut = fieldcryptExit(t, "", "keys", "status", "-h")
		if strings.Contains(out+errOut, "hunter2") {
			t.Errorf("-h with $FIELDCRYPT_STORE %q: %s", spec, errOut)
		}
	}
	if got := scrub("cannot parse `host=x password='a b\\'c' dbname=y`", "password='a b\\'c'"); strings.Contains(got, "a b") {
		t.Errorf("scrub of a quoted password: %s", got)
	}
}

func TestReviewL7BadFlags(t *testing.T) {
	dir := t.TempDir()
	p, done := app(t, dir)
	if err := p.Seal(context.Background(), &Customer{ID: "ada", Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	done()
	store, kek := "sqlite:"+filepath.Join(dir, "keys.db"), "local:"+filepath.Join(dir, "kek.json")
	other := "local:" + filepath.Join(dir, "other.json")
	for _, args := range [][]string{
		{"keys", "migrate", "--store", store, "--from", kek, "--to", other, "--batch", "0"},
		{"keys", "migrate", "--store", store, "--from", kek, "--to", other, "--batch", "-1"},
		{"keys", "migrate", "--store", store, "--from", kek, "--to", other, "--limit", "-1"},
		{"keys", "rewrap", "--store", store, "--kek", "vault:transit/k", "--batch", "0"},
		{"keys", "expire", "--store", store, "--batch", "0"},
		{"keys", "receipts", "--store", store, "--limit", "-1"},
		{"keys", "status", "--store", store, "extra"},
		{"keys", "reapply-tombstones", "--store", store, "tombstones.jsonl"},
	} {
		code, out, errOut := fieldcryptExit(t, "", args...)
		if code != 2 || out != "" {
			t.Errorf("%v: exit %d, want 2\n%s%s", args[1:], code, out, errOut)
		}
	}
	// The record was not migrated by any of them; a good run migrates it
	// (two records: Ada's and the global keys) without a --limit message.
	out, errOut := fieldcrypt(t, "keys", "migrate", "--store", store, "--from", kek, "--to", other, "--batch", "1")
	if !strings.Contains(out, "2 done") || strings.Contains(errOut, "--limit") {
		t.Errorf("migrate --batch 1:\n%s%s", out, errOut)
	}
}

func TestReviewL7StoreFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	_, done := app(t, dir)
	done()
	t.Setenv("FIELDCRYPT_STORE", "sqlite:"+filepath.Join(dir, "keys.db"))
	out, _ := fieldcrypt(t, "keys", "status")
	if !strings.Contains(out, "subject keys:   0") {
		t.Errorf("status from $FIELDCRYPT_STORE: %s", out)
	}
	var usageText strings.Builder
	usage(&usageText)
	if !strings.Contains(usageText.String(), "FIELDCRYPT_STORE") || !strings.Contains(usageText.String(), "vacuum") {
		t.Errorf("usage does not document $FIELDCRYPT_STORE and vacuum:\n%s", usageText.String())
	}
}

func TestReviewL14Vacuum(t *testing.T) {
	dir := t.TempDir()
	_, done := app(t, dir)
	done()
	out, _ := fieldcrypt(t, "keys", "vacuum", "--store", "sqlite:"+filepath.Join(dir, "keys.db"))
	if !strings.Contains(out, "not needed") {
		t.Errorf("vacuum on SQLite: %s", out)
	}
	dsn := pgtest.Schema(t)
	fieldcrypt(t, "keystore", "migrate", "--store", dsn)
	out, _ = fieldcrypt(t, "keys", "vacuum", "--store", dsn)
	if !strings.Contains(out, "vacuum: done") {
		t.Errorf("vacuum on PostgreSQL: %s", out)
	}
}
