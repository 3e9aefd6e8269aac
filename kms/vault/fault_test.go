package vault_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/internal/vaulttest"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// proxy is a TCP proxy on 127.0.0.1 in front of Vault that can be taken
// down (refusing and cutting connections), slowed, and brought back.
type proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	down    bool
	delay   time.Duration
	conns   map[net.Conn]bool
	stopped chan struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}, stopped: make(chan struct{})}
	go p.serve()
	t.Cleanup(func() { ln.Close(); <-p.stopped; p.cut() })
	return p
}

func (p *proxy) addr() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	defer close(p.stopped)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, delay := p.down, p.delay
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.pipe(c, delay)
	}
}

func (p *proxy) pipe(c net.Conn, delay time.Duration) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	time.Sleep(delay)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// setDown takes the proxy down (cutting open connections) or brings it back.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

func (p *proxy) setDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func vaultHost(t *testing.T) string {
	u, err := url.Parse(vaulttest.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func fastRetry() kms.RetryPolicy {
	return kms.RetryPolicy{Attempts: 3, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}
}

// TestFaultVaultDownFailsClosedThenRecovers: with Vault unreachable, Seal
// of a new subject fails with the unavailable error and writes nothing;
// when Vault is back, the next call works.
func TestFaultVaultDownFailsClosedThenRecovers(t *testing.T) {
	root := vaulttest.Client(t)
	key := vaulttest.NewKey(t, root)
	px := newProxy(t, vaultHost(t))
	c := vaulttest.ClientAt(t, px.addr(), root.Token())
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: key, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store := memory.New()
	p, err := pii.New(ctx, k, store)
	if err != nil {
		t.Fatal(err)
	}
	type Person struct {
		ID   string `pii:"subject"`
		Name string `pii:"encrypt"`
	}

	px.setDown(true)
	v := Person{ID: "new-person", Name: "Ada"}
	err = p.Seal(ctx, &v)
	if !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
		t.Fatalf("Seal with Vault down = %v, want a retryable kms.ErrUnavailable", err)
	}
	if v.Name != "Ada" {
		t.Error("failed Seal changed the value")
	}
	if recs, _ := store.Scan(ctx, "", 10); len(recs) != 1 { // the global keys only
		t.Errorf("Seal with Vault down wrote %d key records", len(recs)-1)
	}

	px.setDown(false)
	if err := p.Seal(ctx, &v); err != nil {
		t.Fatalf("Seal once Vault is back = %v", err)
	}
}

// TestFaultSlowVaultRespectsDeadline: a call to a Vault slower than the
// caller's deadline returns when the deadline passes, as unavailable.
func TestFaultSlowVaultRespectsDeadline(t *testing.T) {
	root := vaulttest.Client(t)
	key := vaulttest.NewKey(t, root)
	px := newProxy(t, vaultHost(t))
	px.setDelay(2 * time.Second)
	c := vaulttest.ClientAt(t, px.addr(), root.Token())
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: key, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = k.Encrypt(ctx, []byte("x"), nil)
	if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Encrypt past the deadline = %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Encrypt returned after %v, past its 200 ms deadline", took)
	}
}

// TestFault429IsRetriedThenSucceeds puts an HTTP front before Vault that
// answers 429 with Retry-After: 1 twice, then passes requests through.
func TestFault429IsRetriedThenSucceeds(t *testing.T) {
	root := vaulttest.Client(t)
	key := vaulttest.NewKey(t, root)
	target, _ := url.Parse(vaulttest.Addr(t))
	rp := httputil.NewSingleHostReverseProxy(target)
	var hits atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errors":["rate limited"]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := vaulttest.ClientAt(t, front.URL, root.Token())
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: key, Retry: kms.RetryPolicy{Attempts: 4, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond, MaxRetryAfter: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ct, err := k.Encrypt(context.Background(), []byte("x"), []byte("ad"))
	if err != nil {
		t.Fatalf("Encrypt through two 429s = %v", err)
	}
	if hits.Load() != 3 {
		t.Errorf("%d requests, want 3 (two throttled, one through)", hits.Load())
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("retried after %v: Retry-After: 1 was not honoured", took)
	}
	if _, ok := vault.KeyVersion(ct); !ok {
		t.Error("no ciphertext")
	}
	// With a deadline shorter than Retry-After, it gives up at once.
	hits.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := k.Encrypt(ctx, []byte("x"), nil); !errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("throttled past the deadline = %v, want ErrUnavailable", err)
	}
}

// TestFaultTokenRevoked: a revoked token gives a clear, non-retryable
// permission error.
func TestFaultTokenRevoked(t *testing.T) {
	root := vaulttest.Client(t)
	key := vaulttest.NewKey(t, root)
	secret, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	c := vaulttest.ClientAt(t, vaulttest.Addr(t), secret.Auth.ClientToken)
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: key, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Encrypt(context.Background(), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := root.Auth().Token().RevokeOrphan(secret.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	_, err = k.Encrypt(context.Background(), []byte("x"), nil)
	if !errors.Is(err, kms.ErrRefused) || kms.Retryable(err) || !errors.As(err, new(*kms.Error)) {
		t.Errorf("Encrypt with a revoked token = %v, want a non-retryable refusal", err)
	}
}
