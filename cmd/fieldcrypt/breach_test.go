package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Member is a model with a global token and a global blind index.
type Member struct {
	ID       string `pii:"subject"`
	Card     string `pii:"token,format=pan,scope=global"`
	Email    string `pii:"encrypt"`
	EmailIdx string `pii:"index=Email,transform=trim+fold"`
}

// TestBreachKEK: after a leak of a local KEK, keys migrate moves every key
// to a new key file; the old file no longer opens the store, the new one
// opens every record.
func TestBreachKEK(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	p, done := app(t, dir)
	ada := Customer{ID: "ada", Name: "Ada"}
	if err := p.Seal(ctx, &ada); err != nil {
		t.Fatal(err)
	}
	done()
	newKEK := "local:" + filepath.Join(dir, "kek-2.json")
	out, _ := fieldcrypt(t, "keys", "migrate", "--store", store, "--from", "local:"+filepath.Join(dir, "kek.json"), "--to", newKEK)
	if !strings.Contains(out, "2 done, 0 skipped, 0 failed") {
		t.Fatalf("migrate: %s", out)
	}
	if code, _, _ := fieldcryptExit(t, "", "keys", "verify-erased", "--store", store, "--kek", "local:"+filepath.Join(dir, "kek.json"), "ada"); code != 1 {
		t.Errorf("the old KEK still opens the store: exit %d", code)
	}
	kek, err := local.Open(filepath.Join(dir, "kek-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p2, err := pii.New(ctx, kek, s)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Open(ctx, &ada); err != nil || ada.Name != "Ada" {
		t.Errorf("open with the new KEK: %q, %v", ada.Name, err)
	}
}

// TestBreachRotateSubject: keys rotate-subject gives one subject a new key;
// pii.Backfill then finds that subject's rows under the old key, and
// re-seals them.
func TestBreachRotateSubject(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	kek := "local:" + filepath.Join(dir, "kek.json")
	p, done := app(t, dir)
	rows := []Customer{{ID: "ada", Name: "Ada"}, {ID: "grace", Name: "Grace"}}
	if err := p.SealAll(ctx, rows); err != nil {
		t.Fatal(err)
	}
	done()
	code, out, errOut := fieldcryptExit(t, "ada\n", "keys", "rotate-subject", "--store", store, "--kek", kek, "-")
	if code != 0 || !strings.Contains(out, "rotated: new encryption key") || !strings.Contains(errOut, "pii.Backfill") || strings.Contains(out+errOut, "ada") {
		t.Fatalf("rotate-subject: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := fieldcryptExit(t, "", "keys", "rotate-subject", "--store", store, "--kek", kek, "nobody"); code != 1 || !strings.Contains(errOut, "no keys in this store") {
		t.Errorf("unknown subject: exit %d %s", code, errOut)
	}

	p, done = app(t, dir)
	defer done()
	fetch := func(_ context.Context, after string, limit int) ([]*Customer, string, error) {
		if after != "" {
			return nil, "", nil
		}
		return []*Customer{&rows[0], &rows[1]}, "end", nil
	}
	rep, err := pii.Backfill(ctx, p, pii.BackfillOptions[*Customer]{Fetch: fetch, DryRun: true})
	if err != nil || rep.OldKey != 1 {
		t.Fatalf("dry run after the rotation: %+v, %v", rep, err)
	}
	rep, err = pii.Backfill(ctx, p, pii.BackfillOptions[*Customer]{Fetch: fetch, Save: func(_ context.Context, rs []*Customer) (int, error) { return len(rs), nil }})
	if err != nil || rep.OldKey != 1 {
		t.Fatalf("backfill: %+v, %v", rep, err)
	}
	rep, err = pii.Backfill(ctx, p, pii.BackfillOptions[*Customer]{Fetch: fetch, DryRun: true})
	if err != nil || rep.OldKey != 0 {
		t.Errorf("after the backfill: %+v, %v", rep, err)
	}
	c := rows[0]
	if err := p.Open(ctx, &c); err != nil || c.Name != "Ada" {
		t.Errorf("open: %q %v", c.Name, err)
	}
}

// TestBreachRotateTokenKey: keys rotate-token-key changes nothing without
// --yes; with it, a new global token key; records are re-tokenized by
// opening with a Protector pinned to the old key and sealing with a new one.
func TestBreachRotateTokenKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	kek := "local:" + filepath.Join(dir, "kek.json")
	p, done := app(t, dir)
	m := Member{ID: "ada", Card: "4111111111111111", Email: "ada@example.com"}
	if err := p.Seal(ctx, &m); err != nil {
		t.Fatal(err)
	}
	oldToken := m.Card
	done()

	out, _ := fieldcrypt(t, "keys", "rotate-token-key", "--store", store, "--kek", kek)
	if !strings.Contains(out, "not rotated (add --yes)") {
		t.Fatalf("without --yes: %s", out)
	}
	cur := out[strings.Index(out, "current: ")+len("current: "):]
	oldID, err := strconv.ParseUint(strings.TrimSpace(strings.SplitN(cur, "\n", 2)[0]), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut := fieldcrypt(t, "keys", "rotate-token-key", "--store", store, "--kek", kek, "--yes")
	if !strings.Contains(out, "rotated: new global token key") || !strings.Contains(errOut, "pii.WithGlobalTokenKey") {
		t.Fatalf("--yes: %s %s", out, errOut)
	}
	// Re-tokenize: open with the old key, seal with the new.
	pOld, doneOld := app(t, dir, pii.WithGlobalTokenKey(uint32(oldID)))
	if err := pOld.Open(ctx, &m); err != nil || m.Card != "4111111111111111" {
		t.Fatalf("open with the old token key: %q %v", m.Card, err)
	}
	doneOld()
	pNew, doneNew := app(t, dir)
	defer doneNew()
	if err := pNew.Seal(ctx, &m); err != nil {
		t.Fatal(err)
	}
	if m.Card == oldToken {
		t.Error("the token did not change with the key")
	}
	if err := pNew.Open(ctx, &m); err != nil || m.Card != "4111111111111111" {
		t.Errorf("open with the new token key: %q %v", m.Card, err)
	}
}

// TestBreachIndexKey: index status lists the index key versions; index
// rotate-key adds one, written at once with --activation-delay 0.
func TestBreachIndexKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	kek := "local:" + filepath.Join(dir, "kek.json")
	p, done := app(t, dir)
	m := Member{ID: "ada", Card: "4111111111111111", Email: "ada@example.com"}
	if err := p.Seal(ctx, &m); err != nil {
		t.Fatal(err)
	}
	done()
	out, _ := fieldcrypt(t, "index", "status", "--store", store, "--kek", kek)
	if !strings.Contains(out, "version 1: active from the start (written now)") {
		t.Fatalf("status: %s", out)
	}
	if code, _, _ := fieldcryptExit(t, "", "index", "rotate-key", "--store", store, "--kek", kek, "--activation-delay", "-5s"); code != exitUsage {
		t.Errorf("negative delay: exit %d", code)
	}
	out, errOut := fieldcrypt(t, "index", "rotate-key", "--store", store, "--kek", kek, "--activation-delay", "0s")
	if !strings.Contains(out, "rotated: index key version 2") || !strings.Contains(out, "version 2: written from") || !strings.Contains(out, "(written now)") || !strings.Contains(errOut, "pii.ReindexAll") {
		t.Fatalf("rotate-key: %s %s", out, errOut)
	}
	out, _ = fieldcrypt(t, "index", "status", "--store", store, "--kek", kek)
	if !strings.HasPrefix(out, "version 2") || !strings.Contains(out, "version 1") {
		t.Errorf("status after rotation: %s", out)
	}
	// A new row is indexed with version 2, the old one still found.
	p, done = app(t, dir)
	defer done()
	if v, _ := p.IndexKeyVersions(); len(v) != 2 {
		t.Errorf("versions %v", v)
	}
}

// TestNewCommandsHelp: every new command has --help text.
func TestNewCommandsHelp(t *testing.T) {
	for _, c := range [][]string{{"keys", "rotate-subject"}, {"keys", "rotate-token-key"}, {"index", "rotate-key"}, {"index", "status"}, {"datamap", "show"}} {
		code, _, errOut := fieldcryptExit(t, "", append(c, "-h")...)
		if code != exitUsage || !strings.Contains(errOut, "-kek") && c[0] != "datamap" || !strings.Contains(errOut, "Usage") && !strings.Contains(errOut, "usage") {
			t.Errorf("%v -h: exit %d %s", c, code, errOut)
		}
	}
}
