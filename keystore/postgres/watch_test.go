package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
)

// eventBound only bounds how long a test waits for an event that must come
// (a failure, not a measurement).
const eventBound = 30 * time.Second

// token returns a random lowercase word, to tell this test's
// announcements from those of tests running at the same time (the channel
// is per database, not per schema).
func token() string { return strings.ToLower(rand.Text()[:10]) }

// watch runs s.WatchErasures until the test ends and returns its events,
// as "erased ID", "readmitted ID", "listening" or "lost".
func watch(t *testing.T, s *postgres.Store) <-chan string {
	t.Helper()
	events := make(chan string, 1000)
	send := func(e string) {
		select {
		case events <- e:
		default:
			t.Errorf("event %q dropped: the test does not read its events", e)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.WatchErasures(ctx, keystore.ErasureEvents{
			Erased:     func(id string) { send("erased " + id) },
			Readmitted: func(id string) { send("readmitted " + id) },
			Listening:  func() { send("listening") },
			Lost: func(err error) {
				if err == nil {
					send("lost without an error")
				} else {
					send("lost")
				}
			},
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

// next returns the next event.
func next(t *testing.T, events <-chan string) string {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(eventBound):
		t.Fatalf("no event within %v", eventBound)
		return ""
	}
}

// until returns the events up to and including want.
func until(t *testing.T, events <-chan string, want string) []string {
	t.Helper()
	var got []string
	for {
		e := next(t, events)
		got = append(got, e)
		if e == want {
			return got
		}
	}
}

// notify sends payload on the erasure channel from a connection of its own.
func notify(t *testing.T, payload string) {
	t.Helper()
	pgtest.Exec(t, `SELECT pg_notify($1, $2)`, postgres.Channel, payload)
}

// TestReviewM4ForgedPayloadsAreDropped: anyone who can connect can NOTIFY
// on the channel; a payload that is not a valid record ID (with or without
// the readmission prefix) is delivered to no callback.
func TestReviewM4ForgedPayloadsAreDropped(t *testing.T) {
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	events := watch(t, s)
	if e := next(t, events); e != "listening" {
		t.Fatalf("first event %q, want listening", e)
	}
	tok := token()
	for _, payload := range []string{
		"bad id-" + tok,
		" readmit bad id-" + tok,
		" readmit  " + tok, // the ID would start with a space
		" " + tok,
		tok + "\n",
		"tab\t" + tok,
		"ünïcode-" + tok,
		strings.Repeat("x", keystore.MaxIDLength) + tok,
		" readmit " + strings.Repeat("x", keystore.MaxIDLength) + tok,
		"",
		" readmit ",
	} {
		notify(t, payload)
	}
	// Announcements are delivered in commit order: once the marker sent
	// after them arrives, every forged one has been handled.
	marker := "marker-" + tok
	notify(t, marker)
	for _, e := range until(t, events, "erased "+marker) {
		kind, id, _ := strings.Cut(e, " ")
		if kind != "erased" && kind != "readmitted" {
			t.Errorf("unexpected event %q", e)
			continue
		}
		if keystore.ValidateID(id) != nil || (strings.Contains(id, tok) && id != marker) {
			t.Errorf("a forged payload was delivered: %s %q", kind, id)
		}
	}
}

// TestReviewL15ReadmitIsAnnounced: Readmit is announced, and delivered as
// Readmitted (never as an erasure), once per lifted tombstone.
func TestReviewL15ReadmitIsAnnounced(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	events := watch(t, s)
	if e := next(t, events); e != "listening" {
		t.Fatalf("first event %q, want listening", e)
	}
	tok := token()
	id := "subject-" + tok
	if _, _, err := s.Create(ctx, keystore.Record{ID: id, KEKID: "k", Wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: id, Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Readmit(ctx, id); err != nil {
		t.Fatal(err)
	}
	notify(t, "marker-"+tok)
	var mine []string
	for _, e := range until(t, events, "erased marker-"+tok) {
		if strings.Contains(e, tok) {
			mine = append(mine, e)
		}
	}
	want := []string{"erased " + id, "readmitted " + id, "erased marker-" + tok}
	if strings.Join(mine, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", mine, want)
	}
	// Readmitting an ID with no tombstone announces nothing.
	if err := s.Readmit(ctx, id); err != nil {
		t.Fatal(err)
	}
	notify(t, "marker2-"+tok)
	for _, e := range until(t, events, "erased marker2-"+tok) {
		if strings.Contains(e, id) {
			t.Errorf("Readmit without a tombstone announced %q", e)
		}
	}
}

// TestReviewM3LostBeforeListeningAgain: when the listener's connection
// fails and it cannot reconnect (here: its role may open no more
// connections), Lost is called at once and on every failed attempt, and
// Listening only once it listens again.
func TestReviewM3LostBeforeListeningAgain(t *testing.T) {
	dsn, role := roleDSN(t)
	s := open(t, dsn)
	events := watch(t, s)
	if e := next(t, events); e != "listening" {
		t.Fatalf("first event %q, want listening", e)
	}
	pgtest.Exec(t, `ALTER ROLE `+role+` CONNECTION LIMIT 0`)
	pgtest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND application_name = $2`,
		role, postgres.WatcherApplicationName)
	// The cut, then at least one refused reconnection.
	for range 2 {
		if e := next(t, events); e != "lost" {
			t.Fatalf("after the listener's connection was cut: event %q, want lost", e)
		}
	}
	pgtest.Exec(t, `ALTER ROLE `+role+` CONNECTION LIMIT -1`)
	for {
		e := next(t, events)
		if e == "listening" {
			break
		}
		if e != "lost" {
			t.Fatalf("event %q while reconnecting, want lost or listening", e)
		}
	}
}

// roleDSN returns the URL of a new schema owned by a new role without
// special privileges (as an application's role owns its tables), and the
// role; both are dropped when the test ends.
func roleDSN(t *testing.T) (dsn, role string) {
	t.Helper()
	dsn = pgtest.Schema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role = "fc_role_" + token()
	pgtest.Exec(t, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pgtest.Server(t))
		if err != nil {
			t.Errorf("drop role: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, stmt := range []string{
			`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '` + role + `'`,
			`DROP OWNED BY ` + role + ` CASCADE`,
			`DROP ROLE ` + role,
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	pgtest.Exec(t, `ALTER SCHEMA `+u.Query().Get("search_path")+` OWNER TO `+role)
	u.User = url.User(role)
	return u.String(), role
}
