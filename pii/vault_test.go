package pii_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
	"github.com/fieldcrypt/fieldcrypt/tokenize"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
)

type vaultShapes struct {
	ID       string   `pii:"subject"`
	PIN      string   `pii:"token,format=digits,vault"`
	Long     string   `pii:"token,format=digits,vault"` // FF1: 6 digits and more
	Card     string   `pii:"token,format=pan,vault=always"`
	Phone    string   `pii:"token,format=phone,vault"`
	Email    string   `pii:"token,format=email,vault"`
	Code     string   `pii:"token,format=alnum,vault"`
	SSN      string   `pii:"token,format=ssn,vault=always"`
	Birth    string   `pii:"token,format=date,vault"`
	ZipUS    string   `pii:"token,format=postcode-us,vault"`
	ZipUK    string   `pii:"token,format=postcode-uk,vault"`
	ZipDE    string   `pii:"token,format=postcode-de,vault"`
	ZipNL    string   `pii:"token,format=postcode-nl,vault"`
	ZipCA    string   `pii:"token,format=postcode-ca,vault"`
	Nick     string   `pii:"token,format=text,vault"`
	PINMAC   string   `pii:"tokenmac=PIN"`
	Aliases  []string `pii:"token,format=text,vault"`
	Untagged string
}

func sampleShapes(id string) vaultShapes {
	return vaultShapes{
		ID: id, PIN: "0042", Long: "12345678", Card: "4111 1111 1111 1111", Phone: "+35112345", Email: "ada@example.com",
		Code: "A1b", SSN: "123-45-6789", Birth: "1815-12-10", ZipUS: "12345-6789", ZipUK: "SW1A 1AA", ZipDE: "10115",
		ZipNL: "1012 AB", ZipCA: "K1A 0B1", Nick: "Ada", Aliases: []string{"Countess", "AAL"}, Untagged: "stays",
	}
}

// vaultStores are the stores the vault tests run on; PostgreSQL skips
// without a server.
func vaultStores() map[string]func(t *testing.T) keystore.Store {
	return map[string]func(t *testing.T) keystore.Store{
		"memory": func(*testing.T) keystore.Store { return memory.New() },
		"sqlite": func(t *testing.T) keystore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) keystore.Store {
			s, err := postgres.Open(context.Background(), pgtest.Schema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		},
	}
}

func forEachVaultStore(t *testing.T, f func(t *testing.T, store keystore.Store)) {
	for name, open := range vaultStores() {
		t.Run(name, func(t *testing.T) { f(t, open(t)) })
	}
}

var (
	vaultKEKsMu sync.Mutex
	vaultKEKs   = map[keystore.Store]*kmstest.KEK{}
)

// newVaultProtector returns a Protector on store, with one KEK per store
// (a second call is another process).
func newVaultProtector(t *testing.T, store keystore.Store, opts ...pii.Option) *pii.Protector {
	t.Helper()
	vaultKEKsMu.Lock()
	kek := vaultKEKs[store]
	if kek == nil {
		kek = kmstest.New("test:1")
		vaultKEKs[store] = kek
	}
	vaultKEKsMu.Unlock()
	p, err := pii.New(context.Background(), kek, store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestVaultRoundTripEveryShape(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := newVaultProtector(t, store)
		orig := sampleShapes("subject-1")
		v := orig
		v.Aliases = append([]string(nil), orig.Aliases...)
		if err := p.Seal(ctx, &v); err != nil {
			t.Fatal(err)
		}
		sealed := v
		sealed.Aliases = append([]string(nil), v.Aliases...)
		check := func(name, format, in, tok string) {
			t.Helper()
			if tok == in || len(tok) != len(in) {
				t.Errorf("%s: token %q does not stand in for the value (length %d, want %d)", name, tok, len(tok), len(in))
			}
			if _, err := vaulttoken.ParseToken(tokenize.Format(format), tok); err != nil {
				t.Errorf("%s: token %q is not of the value's shape: %v", name, tok, err)
			}
		}
		check("PIN", "digits", orig.PIN, v.PIN)
		check("Long", "digits", orig.Long, v.Long)
		check("Card", "pan", orig.Card, v.Card)
		check("Phone", "phone", orig.Phone, v.Phone)
		check("Email", "email", orig.Email, v.Email)
		check("Code", "alnum", orig.Code, v.Code)
		check("SSN", "ssn", orig.SSN, v.SSN)
		check("Birth", "date", orig.Birth, v.Birth)
		check("ZipUS", "postcode-us", orig.ZipUS, v.ZipUS)
		check("ZipUK", "postcode-uk", orig.ZipUK, v.ZipUK)
		check("ZipDE", "postcode-de", orig.ZipDE, v.ZipDE)
		check("ZipNL", "postcode-nl", orig.ZipNL, v.ZipNL)
		check("ZipCA", "postcode-ca", orig.ZipCA, v.ZipCA)
		check("Nick", "text", orig.Nick, v.Nick)
		if !strings.HasSuffix(v.Email, "@example.com") || v.Card[:1] != "4" || !strings.HasSuffix(v.Card, "1111") || v.Phone[:4] != "+351" {
			t.Errorf("kept parts changed: %q %q %q", v.Email, v.Card, v.Phone)
		}
		if v.PINMAC == "" {
			t.Error("the tokenmac of a vaulted token was not written")
		}
		if err := p.Open(ctx, &v); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(v) != fmt.Sprint(withMAC(orig, v.PINMAC)) {
			t.Errorf("round trip:\n got %+v\nwant %+v", v, orig)
		}
		// A second Protector (another process) opens them too.
		q := newVaultProtector(t, store)
		if err := q.Open(ctx, &sealed); err != nil || sealed.Birth != orig.Birth || sealed.Aliases[1] != "AAL" {
			t.Errorf("another Protector: %v, %+v", err, sealed)
		}
	})
}

func withMAC(v vaultShapes, mac string) vaultShapes { v.PINMAC = mac; return v }

// countingStore counts the token vault calls of a store.
type countingStore struct {
	keystore.Store
	puts, gets, finds atomic.Int64
	failPuts          atomic.Bool
}

var errOutage = errors.New("test: store unreachable")

func (s *countingStore) vault() keystore.TokenVault { return s.Store.(keystore.TokenVault) }

func (s *countingStore) PutTokens(ctx context.Context, now time.Time, puts []keystore.TokenPut) ([]keystore.TokenPutResult, error) {
	s.puts.Add(1)
	if s.failPuts.Load() {
		return nil, errOutage
	}
	return s.vault().PutTokens(ctx, now, puts)
}

func (s *countingStore) GetTokens(ctx context.Context, now time.Time, refs []keystore.TokenRef) ([][]keystore.TokenMapping, error) {
	s.gets.Add(1)
	if s.failPuts.Load() {
		return nil, errOutage
	}
	return s.vault().GetTokens(ctx, now, refs)
}

func (s *countingStore) FindTokens(ctx context.Context, now time.Time, refs []keystore.TokenIndexRef) ([][]keystore.TokenMapping, error) {
	s.finds.Add(1)
	return s.vault().FindTokens(ctx, now, refs)
}

func (s *countingStore) ExpireTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.vault().ExpireTokens(ctx, now, limit)
}

func (s *countingStore) CountTokens(ctx context.Context, space, partition string) (int64, error) {
	return s.vault().CountTokens(ctx, space, partition)
}

type vaultPIN struct {
	ID  string `pii:"subject"`
	PIN string `pii:"token,format=digits,vault"`
}

// TestVaultPathChoice: FF1 where the domain allows it (no store call), the
// vault below; Open takes the same path without a marker.
func TestVaultPathChoice(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{Store: memory.New()}
	p := newVaultProtector(t, cs)
	for _, tc := range []struct {
		pin   string
		vault bool
	}{{"1", true}, {"12345", true}, {"123456", false}, {"0000000000", false}} {
		before := cs.puts.Load()
		v := vaultPIN{ID: "s", PIN: tc.pin}
		if err := p.Seal(ctx, &v); err != nil {
			t.Fatal(err)
		}
		if got := cs.puts.Load() > before; got != tc.vault {
			t.Errorf("%d digits: vaulted %v, want %v", len(tc.pin), got, tc.vault)
		}
		gets := cs.gets.Load()
		if err := p.Open(ctx, &v); err != nil || v.PIN != tc.pin {
			t.Fatalf("%d digits: %v", len(tc.pin), err)
		}
		if got := cs.gets.Load() > gets; got != tc.vault {
			t.Errorf("%d digits: Open read the vault %v, want %v", len(tc.pin), got, tc.vault)
		}
	}
	// The FF1 tokens of the field are those of a field without vault.
	type plain struct {
		ID  string `pii:"subject"`
		PIN string `pii:"token,format=digits,name=PIN"`
	}
	a, b := vaultPIN{ID: "s", PIN: "123456"}, plain{ID: "s", PIN: "123456"}
	p.Seal(ctx, &a)
	p.Seal(ctx, &b)
	if a.PIN != b.PIN {
		t.Error("adding vault changed the FF1 tokens of the field")
	}
}

type vaultConv struct {
	ID     string `pii:"subject"`
	Zip    string `pii:"token,format=postcode-de,vault,convergent"`
	Fresh  string `pii:"token,format=postcode-de,vault"`
	Dept   string `pii:"token,format=text,vault=always,convergent,scope=global"`
	Team   string `pii:"token,format=text,vault=always,convergent,scope=global,survive"`
	Serial string `pii:"token,format=digits,vault,convergent"`
}

func TestVaultConvergentAndLookup(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := newVaultProtector(t, store)
		a1 := vaultConv{ID: "a", Zip: "10115", Fresh: "10115", Dept: "Sales", Team: "Blue", Serial: "1234567"}
		a2, b := a1, a1
		b.ID = "b"
		for _, v := range []*vaultConv{&a1, &a2, &b} {
			if err := p.Seal(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		if a1.Zip != a2.Zip || a1.Dept != a2.Dept || a1.Serial != a2.Serial {
			t.Error("convergent: one subject's equal values got different tokens")
		}
		if a1.Fresh == a2.Fresh {
			t.Log("non-convergent tokens equal by chance (1 in 6,250)")
		}
		if a1.Dept != b.Dept || a1.Team != b.Team {
			t.Error("global convergent: two subjects' equal values got different tokens")
		}
		for _, tc := range []struct{ subject, field, value, want string }{
			{"a", "Zip", "10115", a1.Zip}, {"a", "Dept", "Sales", a1.Dept}, {"b", "Dept", "Sales", b.Dept},
			{"", "Team", "Blue", a1.Team}, {"a", "Serial", "1234567", a1.Serial},
		} {
			got, err := pii.LookupToken[vaultConv](ctx, p, tc.subject, tc.field, tc.value)
			if err != nil || got != tc.want {
				t.Errorf("LookupToken(%s, %s) = %q, %v; want %q", tc.subject, tc.field, got, err, tc.want)
			}
		}
		for _, tc := range []struct {
			subject, field, value string
			want                  error
		}{
			{"a", "Zip", "10117", pii.ErrTokenNotFound},
			{"nobody", "Zip", "10115", pii.ErrTokenNotFound},
			{"a", "Fresh", "10115", pii.ErrNotConvergent},
			{"a", "Zip", "1011", tokenize.ErrInvalidValue},
			{"a", "Nope", "x", pii.ErrInvalidArgument},
			{"", "Dept", "Sales", pii.ErrNoSubject},
		} {
			_, err := pii.LookupToken[vaultConv](ctx, p, tc.subject, tc.field, tc.value)
			if !errors.Is(err, tc.want) {
				t.Errorf("LookupToken(%q, %s): %v, want %v", tc.subject, tc.field, err, tc.want)
			}
			if err != nil && tc.value != "" && strings.Contains(err.Error(), tc.value) && tc.field != "Nope" {
				t.Errorf("error reveals the value: %v", err)
			}
		}
		for _, v := range []*vaultConv{&a1, &b} {
			want := vaultConv{ID: v.ID, Zip: "10115", Fresh: "10115", Dept: "Sales", Team: "Blue", Serial: "1234567"}
			if err := p.Open(ctx, v); err != nil || *v != want {
				t.Errorf("open %s: %v %+v", v.ID, err, *v)
			}
		}
	})
}

type vaultGlobal struct {
	ID      string `pii:"subject"`
	Kept    string `pii:"token,format=text,vault=always,scope=global,survive"`
	Dropped string `pii:"token,format=text,vault=always,convergent,scope=global"`
	Own     string `pii:"token,format=date,vault"`
}

func TestVaultForgetShredsAllButSurvive(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := newVaultProtector(t, store)
		a := vaultGlobal{ID: "a", Kept: "Blue", Dropped: "Sales", Own: "1815-12-10"}
		b := a
		b.ID = "b"
		if err := p.SealAll(ctx, []*vaultGlobal{&a, &b}); err != nil {
			t.Fatal(err)
		}
		r, err := p.Forget(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if r.Tokens != 2 { // Dropped and Own; Kept belongs to no one
			t.Errorf("receipt counts %d tokens, want 2", r.Tokens)
		}
		kept := vaultGlobal{ID: "a", Kept: a.Kept}
		if err := p.Open(ctx, &kept); err != nil || kept.Kept != "Blue" {
			t.Errorf("survive token after Forget: %v %q", err, kept.Kept)
		}
		if a.Dropped != b.Dropped {
			t.Error("global convergent tokens differ between subjects")
		}
		if err := p.Open(ctx, &a); !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("open a forgotten subject: %v", err)
		}
		if err := p.Open(ctx, &b); err != nil || b.Dropped != "Sales" || b.Own != "1815-12-10" {
			t.Errorf("b after a's erasure: %v %+v", err, b)
		}
		r, err = p.Forget(ctx, "b")
		if err != nil || r.Tokens != 2 {
			t.Errorf("receipt of b: %d tokens, %v", r.Tokens, err)
		}
		fields, err := pii.SurvivingFields[vaultGlobal]()
		if err != nil || fmt.Sprint(fields) != "[vaultGlobal.Kept]" {
			t.Errorf("SurvivingFields = %v, %v", fields, err)
		}
	})
}

func TestVaultBatchOneRoundTrip(t *testing.T) {
	for name, open := range vaultStores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cs := &countingStore{Store: open(t)}
			p := newVaultProtector(t, cs)
			recs := make([]vaultShapes, 200)
			for i := range recs {
				recs[i] = sampleShapes(fmt.Sprint("subject-", i%50))
				recs[i].PIN = fmt.Sprintf("%04d", i)
			}
			if err := p.SealAll(ctx, recs); err != nil {
				t.Fatal(err)
			}
			// Collisions are redrawn in another round: with 50 subjects and
			// 4 PINs each out of 625 room, rarely.
			if n := cs.puts.Load(); n < 1 || n > 2 {
				t.Errorf("SealAll of 200 records: %d PutTokens calls, want 1 (2 on a collision)", n)
			}
			if err := p.OpenAll(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if n := cs.gets.Load(); n != 1 {
				t.Errorf("OpenAll: %d GetTokens calls, want 1", n)
			}
			if recs[7].PIN != "0007" || recs[199].Birth != "1815-12-10" {
				t.Errorf("opened wrong: %+v", recs[7])
			}
			// OpenEach: one call as well; one bad record fails alone.
			if err := p.SealAll(ctx, recs); err != nil {
				t.Fatal(err)
			}
			recs[3].Birth = "2001-01-01" // not a token of the vault
			gets := cs.gets.Load()
			errs, err := p.OpenEach(ctx, recs)
			if err != nil {
				t.Fatal(err)
			}
			if cs.gets.Load() != gets+1 {
				t.Errorf("OpenEach: %d GetTokens calls", cs.gets.Load()-gets)
			}
			for i, e := range errs {
				if (i == 3) != (e != nil) {
					t.Errorf("record %d: %v", i, e)
				}
			}
			if !errors.Is(errs[3], pii.ErrTokenNotFound) || recs[3].Birth != "2001-01-01" || recs[4].Birth != "1815-12-10" {
				t.Errorf("OpenEach: %v, %q %q", errs[3], recs[3].Birth, recs[4].Birth)
			}
		})
	}
}

type vaultTTL struct {
	ID   string `pii:"subject"`
	Code string `pii:"token,format=digits,vault=always,ttl=1h"`
}

func TestVaultTTL(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		var clock atomic.Int64
		clock.Store(now.UnixNano())
		p := newVaultProtector(t, store, pii.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
		v := vaultTTL{ID: "s", Code: "123456789"} // vault=always: even an FF1-sized value
		if err := p.Seal(ctx, &v); err != nil {
			t.Fatal(err)
		}
		sealed := v
		if err := p.Open(ctx, &v); err != nil || v.Code != "123456789" {
			t.Fatalf("before expiry: %v", err)
		}
		clock.Store(now.Add(time.Hour).UnixNano())
		v = sealed
		if err := p.Open(ctx, &v); !errors.Is(err, pii.ErrTokenNotFound) || v != sealed {
			t.Errorf("after expiry: %v", err)
		}
		n, err := p.ExpireTokens(ctx)
		if err != nil || n != 1 {
			t.Errorf("ExpireTokens = %d, %v; want 1", n, err)
		}
	})
}

func TestVaultReaddressKeepsTokens(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := newVaultProtector(t, store)
		v := vaultConv{ID: "a", Zip: "10115", Fresh: "20095", Dept: "Sales", Team: "Blue", Serial: "42"}
		if err := p.Seal(ctx, &v); err != nil {
			t.Fatal(err)
		}
		sealed := v
		if _, err := p.RotateAddressingKey(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Open(ctx, &v); err != nil || v.Zip != "10115" {
			t.Fatalf("between rotation and re-addressing: %v", err)
		}
		if _, err := p.ReaddressAll(ctx, pii.ReaddressOptions{}); err != nil {
			t.Fatal(err)
		}
		v = sealed
		if err := p.Open(ctx, &v); err != nil || v.Zip != "10115" || v.Dept != "Sales" || v.Serial != "42" {
			t.Fatalf("after re-addressing: %v %+v", err, v)
		}
		if tok, err := pii.LookupToken[vaultConv](ctx, p, "a", "Dept", "Sales"); err != nil || tok != sealed.Dept {
			t.Errorf("lookup after re-addressing: %v", err)
		}
		r, err := p.Forget(ctx, "a")
		if err != nil || r.Tokens != 4 { // Zip, Fresh, Dept, Serial; Team survives
			t.Errorf("Forget after re-addressing: %d tokens, %v", r.Tokens, err)
		}
	})
}

type vaultTwo struct {
	ID    string `pii:"subject"`
	PIN   string `pii:"token,format=digits,vault"`
	Other string `pii:"token,format=digits,vault"`
	One   string `pii:"token,format=digits,vault=always"`
	Note  string `pii:"encrypt"`
}

func TestVaultBadInput(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		cs := &countingStore{Store: store}
		p := newVaultProtector(t, cs)
		a := vaultTwo{ID: "a", PIN: "4711", Other: "0815", Note: "n"}
		if err := p.Seal(ctx, &a); err != nil {
			t.Fatal(err)
		}
		b := vaultTwo{ID: "b", PIN: "4711", Other: "0815"}
		if err := p.Seal(ctx, &b); err != nil {
			t.Fatal(err)
		}
		unchanged := func(name string, before, after vaultTwo, err error, want error, secrets ...string) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", name, err, want)
			}
			if before != after {
				t.Errorf("%s: the value changed", name)
			}
			for _, s := range secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("%s: the error reveals %q: %v", name, s, err)
				}
			}
		}
		open := func(name string, v vaultTwo, want error, secrets ...string) {
			t.Helper()
			w := v
			err := p.Open(ctx, &w)
			unchanged(name, v, w, err, want, secrets...)
		}
		seal := func(name string, v vaultTwo, want error, secrets ...string) {
			t.Helper()
			w := v
			err := p.Seal(ctx, &w)
			unchanged(name, v, w, err, want, secrets...)
		}
		unknown := a
		unknown.PIN = "9999"
		if unknown.PIN == a.PIN {
			unknown.PIN = "9998"
		}
		open("unknown token", unknown, pii.ErrTokenNotFound)
		moved := a
		moved.Other, moved.PIN = a.PIN, a.Other
		open("token of another field", moved, pii.ErrTokenNotFound)
		stolen := b
		stolen.Note = ""
		stolen.PIN, stolen.Other = a.PIN, a.Other
		if a.PIN != b.PIN || a.Other != b.Other {
			open("token of another subject", stolen, pii.ErrTokenNotFound)
		}
		open("token not of the format", vaultTwo{ID: "a", One: "12a4"}, tokenize.ErrInvalidValue, "12a4")
		seal("value not of the format", vaultTwo{ID: "a", One: "12-4"}, tokenize.ErrInvalidValue, "12-4")
		seal("value too long", vaultTwo{ID: "a", One: strings.Repeat("7", 1025)}, pii.ErrValueTooLarge)
		// One digit: 10 tokens, room for 1 per partition.
		if err := p.Seal(ctx, &vaultTwo{ID: "c", One: "3"}); err != nil {
			t.Fatal(err)
		}
		seal("full token space", vaultTwo{ID: "c", One: "5", Note: "x"}, pii.ErrTokenSpaceFull, "5")
		cs.failPuts.Store(true)
		seal("store outage (seal)", vaultTwo{ID: "a", PIN: "1234", Note: "secret note"}, errOutage, "1234", "secret note")
		open("store outage (open)", a, errOutage)
		cs.failPuts.Store(false)
		if err := p.Open(ctx, &a); err != nil || a.PIN != "4711" {
			t.Errorf("after the outage: %v", err)
		}
	})
}

func TestVaultTagErrors(t *testing.T) {
	type noVault struct {
		ID string `pii:"subject"`
		D  string `pii:"token,format=date"`
	}
	type ttlAuto struct {
		ID string `pii:"subject"`
		D  string `pii:"token,format=digits,vault,ttl=1h"`
	}
	type surviveSubject struct {
		ID string `pii:"subject"`
		D  string `pii:"token,format=text,vault=always,survive"`
	}
	type convNoVault struct {
		ID string `pii:"subject"`
		D  string `pii:"token,format=digits,convergent"`
	}
	type badVault struct {
		ID string `pii:"subject"`
		D  string `pii:"token,format=digits,vault=sometimes"`
	}
	type badTTL struct {
		ID string `pii:"subject"`
		D  string `pii:"token,format=digits,vault=always,ttl=-1h"`
	}
	type onEncrypt struct {
		ID string `pii:"subject"`
		D  string `pii:"encrypt,vault"`
	}
	for name, err := range map[string]error{
		"date without vault": pii.Check[noVault](), "ttl without always": pii.Check[ttlAuto](),
		"survive without global": pii.Check[surviveSubject](), "convergent without vault": pii.Check[convNoVault](),
		"vault=sometimes": pii.Check[badVault](), "negative ttl": pii.Check[badTTL](), "vault on encrypt": pii.Check[onEncrypt](),
	} {
		var te *pii.TagError
		if !errors.As(err, &te) {
			t.Errorf("%s: %v, want a *TagError", name, err)
		}
	}
	if err := pii.Check[vaultShapes](); err != nil {
		t.Error(err)
	}
}

type plainSSN struct {
	ID  string `pii:"subject"`
	SSN string `pii:"token,format=ssn"`
}

func TestTokenPlan(t *testing.T) {
	plan, err := pii.TokenPlan[vaultGlobal]()
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 3 || plan[0].Path != "vaultGlobal.Kept" || plan[0].Vault != pii.VaultAlways || !plan[0].Survive ||
		!plan[1].Convergent || plan[2].Format != "date" {
		t.Errorf("TokenPlan = %+v", plan)
	}
	plan, _ = pii.TokenPlan[vaultShapes]()
	if plan[0].Vault != pii.VaultSmall || plan[0].Vaulted != "values of 1 to 5 digits" {
		t.Errorf("PIN: %+v", plan[0])
	}
	plan, err = pii.TokenPlan[plainSSN]()
	if err != nil || len(plan) != 1 || plan[0].Vault != pii.VaultNever {
		t.Errorf("plain token: %+v", plan)
	}
}

func TestVaultNeedsTokenVault(t *testing.T) {
	ctx := context.Background()
	p := newVaultProtector(t, plainStore{memory.New()})
	v := vaultPIN{ID: "s", PIN: "12"}
	if err := p.Seal(ctx, &v); !errors.Is(err, pii.ErrNoTokenVault) || v.PIN != "12" {
		t.Errorf("store without a token vault: %v", err)
	}
	v.PIN = "123456" // FF1: no vault needed
	if err := p.Seal(ctx, &v); err != nil {
		t.Error(err)
	}
}

// plainStore hides every optional interface of its store.
type plainStore struct{ keystore.Store }

// TestVaultFieldsAreAuthenticated: a field whose every value is vaulted
// (vault=always, or a vault-only format) is not listed by
// UnauthenticatedFields: a copied or altered token finds no mapping. A
// field that may use FF1, and a survive field, still are.
func TestVaultFieldsAreAuthenticated(t *testing.T) {
	type vaultAuth struct {
		ID     string `pii:"subject"`
		PIN    string `pii:"token,format=digits,vault=always"`
		Born   string `pii:"token,format=date,vault"`
		Small  string `pii:"token,format=digits,vault"`
		Shared string `pii:"token,format=text,vault=always,convergent,scope=global,survive"`
	}
	got, err := pii.UnauthenticatedFields[vaultAuth]()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vaultAuth.Small", "vaultAuth.Shared"}; !slices.Equal(got, want) {
		t.Errorf("UnauthenticatedFields = %v, want %v", got, want)
	}
}

// erasingStore, when armed, erases the owner of the first owned put of a
// PutTokens call just before the call reaches the store: another
// process's Forget winning the race between Seal reading the key and
// storing the mapping. It records what the store did with that put.
type erasingStore struct {
	keystore.Store
	armed  atomic.Bool
	erased atomic.Int64
	result keystore.TokenPutResult
}

func (s *erasingStore) vault() keystore.TokenVault { return s.Store.(keystore.TokenVault) }

func (s *erasingStore) PutTokens(ctx context.Context, now time.Time, puts []keystore.TokenPut) ([]keystore.TokenPutResult, error) {
	at := -1
	for i, p := range puts {
		if p.Owner != "" && s.armed.Load() {
			if _, err := s.Store.Delete(ctx, keystore.Tombstone{ID: p.Owner, Reason: "test"}); err != nil {
				return nil, err
			}
			s.erased.Add(1)
			at = i
			break
		}
	}
	res, err := s.vault().PutTokens(ctx, now, puts)
	if err == nil && at >= 0 {
		s.result = res[at]
	}
	return res, err
}

func (s *erasingStore) GetTokens(ctx context.Context, now time.Time, refs []keystore.TokenRef) ([][]keystore.TokenMapping, error) {
	return s.vault().GetTokens(ctx, now, refs)
}

func (s *erasingStore) FindTokens(ctx context.Context, now time.Time, refs []keystore.TokenIndexRef) ([][]keystore.TokenMapping, error) {
	return s.vault().FindTokens(ctx, now, refs)
}

func (s *erasingStore) ExpireTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.vault().ExpireTokens(ctx, now, limit)
}

func (s *erasingStore) CountTokens(ctx context.Context, space, partition string) (int64, error) {
	return s.vault().CountTokens(ctx, space, partition)
}

type vaultDropped struct {
	ID      string `pii:"subject"`
	Dropped string `pii:"token,format=text,vault=always,convergent,scope=global"`
}

// TestVaultSealRacingForget: a Seal whose subject is erased between
// reading the key and storing the mapping fails with ErrForgotten, leaves
// the value as it was, and stores no mapping (its keyed index would
// outlive the erasure).
func TestVaultSealRacingForget(t *testing.T) {
	forEachVaultStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		es := &erasingStore{Store: store}
		p := newVaultProtector(t, es)
		a := vaultDropped{ID: "a", Dropped: "Sales"}
		if err := p.Seal(ctx, &a); err != nil { // the key exists and is cached
			t.Fatal(err)
		}
		es.armed.Store(true)
		b := vaultDropped{ID: "a", Dropped: "Marketing"}
		err := p.Seal(ctx, &b)
		if !errors.Is(err, pii.ErrForgotten) {
			t.Fatalf("Seal racing Forget = %v, want ErrForgotten", err)
		}
		if es.erased.Load() != 1 || b.Dropped != "Marketing" {
			t.Fatalf("erased %d times; value after the refused Seal = %q", es.erased.Load(), b.Dropped)
		}
		if r := es.result; r.Stored || !errors.Is(r.Err, keystore.ErrTombstoned) {
			t.Fatalf("the store's result for the put = %+v, want ErrTombstoned", r)
		}
	})
}

// vaultAuditor keeps the events of the vault tests.
type vaultAuditor struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *vaultAuditor) Audit(_ context.Context, e audit.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *vaultAuditor) take(op audit.Op) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, e := range r.events {
		if e.Op == op {
			out = append(out, e)
		}
	}
	r.events = nil
	return out
}

// TestVaultLookupAndExpireAudited: LookupToken and ExpireTokens emit audit
// events, with the outcome, and neither the value nor the token in them.
func TestVaultLookupAndExpireAudited(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	rec := &vaultAuditor{}
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	p := newVaultProtector(t, store, pii.WithAuditor(rec), pii.WithClock(now))
	a := vaultConv{ID: "a", Zip: "10115", Fresh: "10115", Dept: "Sales", Team: "Blue", Serial: "1234567"}
	if err := p.Seal(ctx, &a); err != nil {
		t.Fatal(err)
	}
	rec.take("")
	tok, err := pii.LookupToken[vaultConv](ctx, p, "a", "Zip", "10115")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pii.LookupToken[vaultConv](ctx, p, "a", "Zip", "10117"); !errors.Is(err, pii.ErrTokenNotFound) {
		t.Fatal(err)
	}
	evs := rec.take(pii.OpLookupToken)
	if len(evs) != 2 || evs[0].Outcome != audit.OutcomeOK || evs[1].Outcome != audit.OutcomeError ||
		evs[0].Subject == "" || evs[0].Detail != "vaultConv.Zip" {
		t.Fatalf("lookup events = %+v", evs)
	}
	for _, e := range evs {
		b, _ := e.MarshalCanonical()
		for _, secret := range []string{"10115", "10117", tok, `"a"`} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("lookup event holds %q: %s", secret, b)
			}
		}
	}
	ttl := vaultTTL{ID: "a", Code: "1234"}
	if err := p.Seal(ctx, &ttl); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(48 * time.Hour)
	mu.Unlock()
	rec.take("")
	n, err := p.ExpireTokens(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ExpireTokens = %d, %v", n, err)
	}
	evs = rec.take(audit.OpExpire)
	if len(evs) != 1 || evs[0].Detail != "tokens" || evs[0].Records != 1 || evs[0].Outcome != audit.OutcomeOK {
		t.Fatalf("expire events = %+v", evs)
	}
}
