package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Customer struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func fieldcrypt(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := fieldcryptExit(t, "", args...)
	if code != 0 {
		t.Fatalf("fieldcrypt %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out, errOut
}

// fieldcryptExit runs the command with stdin as its standard input and
// returns its exit code and output.
func fieldcryptExit(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// app is the application side: a Protector on the SQLite store at path.
func app(t *testing.T, dir string, opts ...pii.Option) (*pii.Protector, func()) {
	t.Helper()
	kek, err := local.Open(filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pii.New(context.Background(), kek, s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p, func() { p.Close(); s.Close() }
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRestoreReapply is the operations procedure of the README: a
// backup taken before an erasure brings the erased key back when restored;
// reapply-tombstones with the exported tombstones erases it again.
func TestBackupRestoreReapply(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	p, done := app(t, dir)
	ada, grace := Customer{ID: "ada", Name: "Ada"}, Customer{ID: "grace", Name: "Grace"}
	if err := p.SealAll(ctx, []*Customer{&ada, &grace}); err != nil {
		t.Fatal(err)
	}
	done()
	// Nightly backup of the key store (a checkpointed copy of the file).
	copyFile(t, filepath.Join(dir, "keys.db"), filepath.Join(dir, "backup.db"))

	p, done = app(t, dir)
	if _, err := p.Forget(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	done()
	tombstones := filepath.Join(dir, "tombstones.jsonl")
	kek := "local:" + filepath.Join(dir, "kek.json")
	fieldcrypt(t, "keys", "export-tombstones", "--store", store, "--kek", kek, "--out", tombstones)

	// Disaster: the key store is restored from the older backup.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(dir, "keys.db"+suffix))
	}
	copyFile(t, filepath.Join(dir, "backup.db"), filepath.Join(dir, "keys.db"))
	p, done = app(t, dir)
	x := ada
	if err := p.Open(ctx, &x); err != nil || x.Name != "Ada" {
		t.Fatalf("the restored backup should have brought Ada's key back (that is the danger): %v", err)
	}
	done()

	out, _ := fieldcrypt(t, "keys", "reapply-tombstones", "--store", store, "--kek", kek, "--from", tombstones, "--dry-run")
	if !strings.Contains(out, "would erase 1 live keys") {
		t.Fatalf("reapply-tombstones --dry-run: %s", out)
	}
	out, errOut := fieldcrypt(t, "keys", "reapply-tombstones", "--store", store, "--kek", kek, "--from", tombstones, "--yes")
	if !strings.Contains(errOut, "1 resurrected keys erased again") || strings.Count(out, "\n") != 1 {
		t.Fatalf("reapply-tombstones:\n%s%s", out, errOut)
	}
	p, done = app(t, dir)
	defer done()
	x = ada
	if err := p.Open(ctx, &x); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("after reapply, Open of Ada = %v, want ErrForgotten", err)
	}
	y := grace
	if err := p.Open(ctx, &y); err != nil || y.Name != "Grace" {
		t.Errorf("reapply touched someone who was never erased: %v", err)
	}
	// Running it again changes nothing.
	_, errOut = fieldcrypt(t, "keys", "reapply-tombstones", "--store", store, "--kek", kek, "--from", tombstones)
	if !strings.Contains(errOut, "0 resurrected keys") {
		t.Errorf("second reapply: %s", errOut)
	}
}

func TestExpireReceiptsVerifyStatus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	kek := "local:" + filepath.Join(dir, "kek.json")
	p, done := app(t, dir, pii.WithRetention(24*time.Hour))
	for _, id := range []string{"a", "b", "c"} {
		c := Customer{ID: id, Name: "x"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SetRetention(ctx, "c", time.Now().Add(365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forget(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	done()

	out, _ := fieldcrypt(t, "keys", "status", "--store", store)
	if !strings.Contains(out, "subject keys:   2 (2 with a retention deadline)") || !strings.Contains(out, "tombstones:     1") {
		t.Errorf("status before expiry:\n%s", out)
	}
	tomorrow := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	out, errOut := fieldcrypt(t, "keys", "expire", "--store", store, "--now", tomorrow)
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"reason":"retention"`) || !strings.Contains(errOut, "1 subjects erased") {
		t.Errorf("expire:\n%s%s", out, errOut)
	}
	out, _ = fieldcrypt(t, "keys", "receipts", "--store", store)
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, `"reason":"request"`) || strings.Contains(out, `"a"`) {
		t.Errorf("receipts (one request, one retention, no subject ids):\n%s", out)
	}
	for subject, want := range map[string]string{"a": "erased at", "b": "erased at", "c": "not erased", "never-seen": "not erased"} {
		out, _ := fieldcrypt(t, "keys", "verify-erased", "--store", store, "--kek", kek, subject)
		if !strings.HasPrefix(out, want) {
			t.Errorf("verify-erased %s: %q, want %q", subject, out, want)
		}
	}
	var errBuf bytes.Buffer
	if code := run(ctx, []string{"keys", "nonsense"}, strings.NewReader(""), &bytes.Buffer{}, &errBuf); code != 2 || !strings.Contains(errBuf.String(), "usage") {
		t.Errorf("unknown command: exit %d, %q", code, errBuf.String())
	}
	t.Setenv("FIELDCRYPT_STORE", "")
	if code := run(ctx, []string{"keys", "status"}, strings.NewReader(""), &bytes.Buffer{}, &errBuf); code != 2 || !strings.Contains(errBuf.String(), "--store (or $FIELDCRYPT_STORE) is required") {
		t.Errorf("missing --store: exit %d", code)
	}
}

func TestMigratePostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	out, _ := fieldcrypt(t, "keystore", "migrate", "--store", dsn)
	if !strings.Contains(out, "up to date") {
		t.Errorf("migrate: %s", out)
	}
	out, _ = fieldcrypt(t, "keys", "status", "--store", dsn)
	if !strings.Contains(out, "subject keys:   0") {
		t.Errorf("status of a fresh PostgreSQL store:\n%s", out)
	}
}
