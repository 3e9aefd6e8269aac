package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

const person = "ada.lovelace@example.com"

// rightsEnv seals a record for person in a new SQLite store and returns
// the store and KEK specs and a function that opens person's record again.
func rightsEnv(t *testing.T) (store, kek string, open func() error) {
	t.Helper()
	dir := t.TempDir()
	p, done := app(t, dir)
	c := Customer{ID: person, Name: "Ada"}
	if err := p.Seal(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	done()
	open = func() error {
		p, done := app(t, dir)
		defer done()
		cc := c
		return p.Open(context.Background(), &cc)
	}
	return "sqlite:" + filepath.Join(dir, "keys.db"), "local:" + filepath.Join(dir, "kek.json"), open
}

func noIdentifier(t *testing.T, what string, outs ...string) {
	t.Helper()
	for _, o := range outs {
		if strings.Contains(o, person) {
			t.Errorf("%s printed the subject identifier:\n%s", what, o)
		}
	}
}

// TestForgetHoldReleaseCLI: keys hold makes keys forget refuse with exit
// status 3 (nothing erased, the request recorded as held); after keys
// release, keys forget with the same ticket completes that request and
// prints its receipt; keys requests lists it; --late reports it against a
// short deadline.
func TestForgetHoldReleaseCLI(t *testing.T) {
	store, kek, open := rightsEnv(t)
	out, errOut := fieldcrypt(t, "keys", "hold", "--store", store, "--kek", kek, "--reference", "CASE-1", "--by", "legal", person)
	if !strings.Contains(out, "hold: placed") || !strings.Contains(out, `"reference":"CASE-1"`) {
		t.Errorf("hold: %s", out)
	}
	noIdentifier(t, "hold (the operator typed it, but output never echoes it)", out, errOut)

	code, out, errOut := fieldcryptExit(t, person+"\n", "keys", "forget", "--store", store, "--kek", kek, "--ticket", "DSR-9", "--by", "dpo", "--received", "2020-01-01T00:00:00Z", "-")
	if code != exitHeld || !strings.Contains(errOut, "legal hold") || !strings.Contains(errOut, "CASE-1") || !strings.Contains(out, `"status":"held"`) {
		t.Fatalf("forget of a held subject: exit %d\n%s\n%s", code, out, errOut)
	}
	noIdentifier(t, "forget", out, errOut)
	if err := open(); err != nil {
		t.Fatalf("a refused forget erased the subject: %v", err)
	}

	code, _, errOut = fieldcryptExit(t, "", "keys", "release", "--store", store, "--kek", kek, "--reference", "CASE-2", "--by", "legal", person)
	if code != exitError || !strings.Contains(errOut, "no such hold") {
		t.Errorf("release of an unknown hold: exit %d: %s", code, errOut)
	}
	fieldcrypt(t, "keys", "release", "--store", store, "--kek", kek, "--reference", "CASE-1", "--by", "legal", person)
	// The same ticket carries on with the held request (its receipt time
	// and deadline are the first run's).
	out, errOut = fieldcrypt(t, "keys", "forget", "--store", store, "--kek", kek, "--ticket", "DSR-9", "--by", "dpo", person)
	if !strings.Contains(out, `"status":"completed"`) || !strings.Contains(out, `"key_ids"`) || !strings.Contains(out, `"hold_reference":"CASE-1"`) {
		t.Errorf("forget after the release:\n%s", out)
	}
	noIdentifier(t, "forget", out, errOut)
	if err := open(); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("after forget, Open = %v", err)
	}
	// Erased: a hold is refused.
	code, _, errOut = fieldcryptExit(t, "", "keys", "hold", "--store", store, "--kek", kek, "--reference", "CASE-3", "--by", "legal", person)
	if code != exitError || !strings.Contains(errOut, "erased") {
		t.Errorf("hold on an erased subject: exit %d: %s", code, errOut)
	}

	out, _ = fieldcrypt(t, "keys", "requests", "--store", store)
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"ticket":"DSR-9"`) || !strings.Contains(out, `"received":"2020-01-01T00:00:00Z"`) ||
		!strings.Contains(out, `"deadline":"2020-01-31T00:00:00Z"`) {
		t.Errorf("requests:\n%s", out)
	}
	// Received in 2020 with 30 days to go, completed now: late...
	if out, _ := fieldcrypt(t, "keys", "requests", "--store", store, "--late"); !strings.Contains(out, "DSR-9") {
		t.Errorf("late by its own deadline:\n%s", out)
	}
	// ...but not against ten years.
	if out, _ := fieldcrypt(t, "keys", "requests", "--store", store, "--late", "--deadline", "3650d"); out != "" {
		t.Errorf("late against ten years:\n%s", out)
	}
}

// TestRightsCLIBadInput: missing or malformed flags are usage errors
// (exit 2) before the store is opened; an unreadable subject too.
func TestRightsCLIBadInput(t *testing.T) {
	store, kek, open := rightsEnv(t)
	for _, args := range [][]string{
		{"keys", "forget", "--store", store, "--kek", kek, "--by", "dpo", person},
		{"keys", "forget", "--store", store, "--kek", kek, "--ticket", "T", "--by", "dpo", "--deadline", "soon", person},
		{"keys", "forget", "--store", store, "--kek", kek, "--ticket", "T", "--by", "dpo", "--received", "yesterday", person},
		{"keys", "forget", "--store", store, "--kek", kek, "--ticket", "bad\tticket", "--by", "dpo", person},
		{"keys", "hold", "--store", store, "--kek", kek, "--by", "legal", person},
		{"keys", "release", "--store", store, "--kek", kek, "--reference", "R", person},
		{"keys", "requests", "--store", store, "--deadline", "30d"},
		{"keys", "requests", "--store", store, "--late", "--deadline", "0d"},
		{"consent", "grant", "--store", store, "--kek", kek, "--actor", "web", person},
		{"consent", "grant", "--store", store, "--kek", kek, "--purpose", "Bad Purpose", "--actor", "web", person},
		{"consent", "withdraw", "--store", store, "--kek", kek, "--purpose", "marketing", person},
		{"consent", "show", "--store", store, "--kek", kek},
	} {
		code, out, errOut := fieldcryptExit(t, "", args...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d\n%s", strings.Join(args[:2], " "), code, exitUsage, errOut)
		}
		noIdentifier(t, strings.Join(args, " "), out, errOut)
	}
	if code, _, _ := fieldcryptExit(t, "", "keys", "forget", "--store", store, "--kek", kek, "--ticket", "T", "--by", "dpo", "-"); code != exitUsage {
		t.Errorf("forget with an empty standard input: exit %d", code)
	}
	if err := open(); err != nil {
		t.Errorf("bad input changed the subject: %v", err)
	}
	if out, _ := fieldcrypt(t, "keys", "requests", "--store", store); out != "" {
		t.Errorf("bad input recorded requests:\n%s", out)
	}
}

// TestConsentCLI: grant, withdraw, show and history, the subject from
// standard input.
func TestConsentCLI(t *testing.T) {
	store, kek, _ := rightsEnv(t)
	in := person + "\n"
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := fieldcryptExit(t, in, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		noIdentifier(t, strings.Join(args[:2], " "), out, errOut)
		return out
	}
	base := []string{"--store", store, "--kek", kek}
	run(append([]string{"consent", "grant"}, append(base, "--purpose", "marketing", "--actor", "signup", "-")...)...)
	out := run(append([]string{"consent", "grant"}, append(base, "--purpose", "analytics", "--actor", "signup", "-")...)...)
	if out != "consents to: analytics marketing\n" {
		t.Errorf("after the grants: %q", out)
	}
	out = run(append([]string{"consent", "withdraw"}, append(base, "--purpose", "marketing", "--actor", "support", "-")...)...)
	if out != "consents to: analytics\n" {
		t.Errorf("after the withdrawal: %q", out)
	}
	if out := run(append([]string{"consent", "show"}, append(base, "-")...)...); out != "consents to: analytics\n" {
		t.Errorf("show: %q", out)
	}
	out = run(append([]string{"consent", "history"}, append(base, "-")...)...)
	if strings.Count(out, "\n") != 3 || !strings.Contains(out, `"action":"withdraw"`) || !strings.Contains(out, `"actor":"support"`) {
		t.Errorf("history:\n%s", out)
	}
	// Forgotten: consent is refused.
	fieldcrypt(t, "keys", "forget", "--store", store, "--kek", kek, "--ticket", "T-1", "--by", "dpo", person)
	code, _, errOut := fieldcryptExit(t, in, append([]string{"consent", "grant"}, append(base, "--purpose", "billing", "--actor", "web", "-")...)...)
	if code != exitError || !strings.Contains(errOut, "erased") {
		t.Errorf("grant for a forgotten subject: exit %d: %s", code, errOut)
	}
}

// TestRightsCommandsHelp: every new command has --help text.
func TestRightsCommandsHelp(t *testing.T) {
	for _, c := range commands {
		if c.group != "consent" && c.name != "forget" && c.name != "hold" && c.name != "release" && c.name != "requests" {
			continue
		}
		code, _, errOut := fieldcryptExit(t, "", c.group, c.name, "-h")
		if code != exitUsage || !strings.Contains(errOut, "-store") {
			t.Errorf("%s %s -h: exit %d: %s", c.group, c.name, code, errOut)
		}
	}
}
