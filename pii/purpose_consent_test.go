package pii

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

// TestPurposeConsentWithdrawalSQLiteWithinTTL: two instances on one
// SQLite file. SQLite cannot announce a withdrawal, so the other
// instance's cached grant stands until the cache TTL has passed on its
// clock, and not a moment longer.
func TestPurposeConsentWithdrawalSQLiteWithinTTL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	open := func() *sqlite.Store {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	kek := kmstest.New("test:1")
	a, err := New(ctx, kek, open(), testPurposes)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const ttl = time.Minute
	clock := time.Now()
	b, err := New(ctx, kek, open(), testPurposes, WithKeyCache(100, ttl), WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	sealed := newPurposeCustomer("ada")
	if err := a.Seal(ctx, &sealed); err != nil {
		t.Fatal(err)
	}
	if err := a.GrantConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	c := sealed
	if err := b.Open(as("marketing"), &c); err != nil { // b caches the grant
		t.Fatal(err)
	}
	if err := a.WithdrawConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "support"}); err != nil {
		t.Fatal(err)
	}
	c = sealed
	if err := a.Open(as("marketing"), &c); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("instance a after its own withdrawal = %v", err)
	}
	clock = clock.Add(ttl - time.Second)
	c = sealed
	if err := b.Open(as("marketing"), &c); err != nil {
		t.Fatalf("instance b within the TTL = %v (its cached grant should stand: SQLite cannot announce)", err)
	}
	clock = clock.Add(time.Second)
	c = sealed
	if err := b.Open(as("marketing"), &c); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("instance b once the TTL has passed = %v, want ErrNoConsent", err)
	}
}

// signalStore is a PostgreSQL store that tells the test when its
// Protector's watcher listens and when it has handled a consent
// announcement.
type signalStore struct {
	*postgres.Store
	listening chan struct{}
	consent   chan string
}

func (s *signalStore) WatchErasures(ctx context.Context, ev keystore.ErasureEvents) error {
	listening, consent := ev.Listening, ev.ConsentChanged
	ev.Listening = func() {
		listening()
		select {
		case s.listening <- struct{}{}:
		default:
		}
	}
	ev.ConsentChanged = func(id string) {
		if consent != nil {
			consent(id) // the Protector's own handler first
		}
		s.consent <- id
	}
	return s.Store.WatchErasures(ctx, ev)
}

// TestPurposeConsentWithdrawalAcrossInstancesPostgres: a withdrawal
// through instance a makes instance b's next Open for the purpose fail,
// as soon as b has the announcement: b had the grant cached for the key
// cache's whole TTL (an hour), so only the announcement can end it.
func TestPurposeConsentWithdrawalAcrossInstancesPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	kek := kmstest.New("test:1")
	a, err := New(ctx, kek, open(), testPurposes)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sb := &signalStore{Store: open(), listening: make(chan struct{}, 1), consent: make(chan string, 16)}
	b, err := New(ctx, kek, sb, testPurposes, WithKeyCache(100, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	select {
	case <-sb.listening:
	case <-time.After(30 * time.Second):
		t.Fatal("instance b's watcher never listened")
	}

	sealed := newPurposeCustomer("ada")
	if err := a.Seal(ctx, &sealed); err != nil {
		t.Fatal(err)
	}
	if err := a.GrantConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	ids, _ := b.ring.addresses("ada")
	waitConsent := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			select {
			case id := <-sb.consent:
				if id == ids[0] {
					return time.Since(start)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the %s was never announced to instance b", what)
			}
		}
	}
	waitConsent("grant")
	c := sealed
	if err := b.Open(as("marketing"), &c); err != nil || c.Name != "Ada Lovelace" { // b caches the grant
		t.Fatalf("instance b before the withdrawal = %v", err)
	}
	c = sealed
	if err := b.Open(as("marketing"), &c); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := a.WithdrawConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "support"}); err != nil {
		t.Fatal(err)
	}
	waitConsent("withdrawal")
	elapsed := time.Since(start)
	c = sealed
	if err := b.Open(as("marketing"), &c); !errors.Is(err, ErrNoConsent) || c.Name != sealed.Name {
		t.Fatalf("instance b after the announced withdrawal = %v, want ErrNoConsent", err)
	}
	t.Logf("a withdrawal through instance a refused instance b's next Open %v after WithdrawConsent was called", elapsed)
	if elapsed > time.Second {
		t.Errorf("the withdrawal took %v to reach instance b, more than the 1 s promised", elapsed)
	}
	// Other purposes are unaffected.
	if err := b.Open(as("billing"), &c); err != nil {
		t.Fatal(err)
	}
}
