package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestReaddressCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	kek := "local:" + filepath.Join(dir, "kek.json")
	p, done := app(t, dir)
	for _, id := range []string{"a", "b", "c"} {
		c := Customer{ID: id, Name: "x"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Forget(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	done()

	// A missing store is refused, not created.
	if code, _, errOut := fieldcryptExit(t, "", "keys", "readdress", "--store", "sqlite:"+filepath.Join(dir, "typo.db"), "--kek", kek, "--rotate"); code != 1 || !strings.Contains(errOut, "no such store") {
		t.Errorf("readdress of a missing store: exit %d, %s", code, errOut)
	}
	if code, _, _ := fieldcryptExit(t, "", "keys", "readdress", "--store", store, "--kek", kek, "--rotate", "--dry-run"); code != 2 {
		t.Errorf("--rotate --dry-run: exit %d, want 2", code)
	}
	out, _ := fieldcrypt(t, "keys", "readdress", "--store", store, "--kek", kek)
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("readdress without a rotation: %s", out)
	}
	out, _ = fieldcrypt(t, "keys", "readdress", "--store", store, "--kek", kek, "--rotate")
	if !strings.Contains(out, "moved 2 records and 1 tombstones") || !strings.Contains(out, "complete: lookups use generation 1 only") {
		t.Errorf("readdress --rotate:\n%s", out)
	}
	out, _ = fieldcrypt(t, "keys", "readdress", "--store", store, "--kek", kek, "--rotate", "--batch", "1")
	if !strings.Contains(out, "generation 2: moved 2 records and 1 tombstones") {
		t.Errorf("second rotation:\n%s", out)
	}
	p, done = app(t, dir)
	defer done()
	for id, want := range map[string]bool{"a": true, "b": false, "c": true} {
		c := Customer{ID: id, Name: "y"}
		if err := p.Seal(ctx, &c); (err == nil) != want {
			t.Errorf("Seal(%s) after re-addressing = %v", id, err)
		}
	}
	for subject, want := range map[string]string{"a": "not erased", "b": "erased at"} {
		out, _ := fieldcrypt(t, "keys", "verify-erased", "--store", store, "--kek", kek, subject)
		if !strings.HasPrefix(out, want) {
			t.Errorf("verify-erased %s: %q, want %q", subject, out, want)
		}
	}
}
