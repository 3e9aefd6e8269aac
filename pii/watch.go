package pii

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// WatcherState is the state of a Protector's erasure watcher: the listener
// through which a key store (keystore/postgres) announces erasures made by
// other processes.
type WatcherState uint8

const (
	// WatcherNone: the key store cannot announce erasures. Another process's
	// Forget takes effect here when the cache entry expires (WithKeyCache).
	WatcherNone WatcherState = iota
	// WatcherStarting: the watcher has not yet started listening.
	WatcherStarting
	// WatcherListening: erasures elsewhere are announced within moments.
	WatcherListening
	// WatcherLost: the watcher's connection failed and it is reconnecting;
	// erasures elsewhere go unannounced meanwhile.
	WatcherLost
)

func (s WatcherState) String() string {
	switch s {
	case WatcherNone:
		return "none"
	case WatcherStarting:
		return "starting"
	case WatcherListening:
		return "listening"
	case WatcherLost:
		return "lost"
	}
	return fmt.Sprintf("WatcherState(%d)", uint8(s))
}

// Health reports how promptly this Protector learns of erasures made by
// other processes.
type Health struct {
	Watcher WatcherState
	// Since is when Watcher took its current value (zero for WatcherNone).
	Since time.Time
	// Err is the failure that made the watcher lose its connection
	// (WatcherLost only).
	Err error
	// Refusing: WithFailClosedWithoutWatcher is set and the watcher has not
	// been listening for longer than it allows, so every use of a subject
	// key fails with ErrWatcherDown.
	Refusing bool
}

// Health reports the state of the erasure watcher. While it is not
// listening (WatcherStarting, WatcherLost), the Protector caches subject
// keys for at most a second, and dropped every cached key when the
// connection was lost: time-to-forget stays about a second, at the cost of
// a KMS round trip per subject per second. Watch it in a health check.
func (p *Protector) Health() Health {
	w := p.ring.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	return Health{Watcher: w.state, Since: w.since, Err: w.err, Refusing: w.refusing()}
}

// WithWatcherErrors calls f (from the watcher's goroutine; f must not
// block) with the error each time the erasure watcher loses its connection.
func WithWatcherErrors(f func(error)) Option {
	return func(c *config) error { c.watcherErrors = f; return nil }
}

// WithFailClosedWithoutWatcher makes the Protector refuse to use subject
// keys (ErrWatcherDown) whenever its erasure watcher has not been
// listening for longer than d (from New, or from when its connection was
// lost), rather than serve data whose erasure elsewhere it could miss. Keys
// are usable again as soon as it listens. New fails with ErrNoWatcher if
// the key store cannot announce erasures. Values with scope=global do not
// depend on subject keys and are not refused.
func WithFailClosedWithoutWatcher(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("pii: fail-closed delay must not be negative")
		}
		c.failClosed, c.failClosedAfter = true, d
		return nil
	}
}

// watchState is what the keyring knows of the erasure watcher.
type watchState struct {
	mu        sync.Mutex
	state     WatcherState
	since     time.Time
	err       error
	failClose bool
	failAfter time.Duration
	now       func() time.Time
	onError   func(error)
}

// check returns ErrWatcherDown if keys must not be used now.
func (w *watchState) check() error {
	if !w.failClose {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refusing() {
		return fmt.Errorf("%w (watcher %s since %s)", ErrWatcherDown, w.state, w.since.UTC().Format(time.RFC3339))
	}
	return nil
}

func (w *watchState) refusing() bool {
	return w.failClose && w.state != WatcherListening && w.state != WatcherNone && w.now().Sub(w.since) > w.failAfter
}

func (w *watchState) set(s WatcherState, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != s {
		w.state, w.since = s, w.now()
	}
	w.err = err
}

// watch follows the erasure announcements of the key store until Close.
//
// Announcements are hints (any database role can send one): an erasure
// announced for a record drops its cached key and makes loads in flight
// read the store again, which is always safe; nothing is refused on the
// strength of an announcement. A readmission drops a negative entry only
// after the store confirms that no tombstone stands. Nothing is kept per
// announcement beyond the bounded guard of loads in flight.
func (p *Protector) watch(w keystore.ErasureWatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	p.stopWatch, p.watchDone = cancel, make(chan struct{})
	ring := p.ring
	ring.watch.set(WatcherStarting, nil)
	ring.cache.setDegraded(true)
	ring.consent.setDegraded(true)
	go func() {
		defer close(p.watchDone)
		w.WatchErasures(ctx, keystore.ErasureEvents{
			Erased: func(id string) {
				ring.cache.markChanged("", id, false)
				ring.consent.invalidate(id)
			},
			Readmitted: func(id string) {
				if !ring.cache.isNegative(id) {
					ring.cache.markChanged("", id, false)
					return
				}
				cctx, cancel := context.WithTimeout(ctx, ring.fetchTimeout)
				_, err := ring.store.GetTombstone(cctx, id)
				cancel()
				ring.cache.markChanged("", id, errors.Is(err, keystore.ErrNotFound))
			},
			ConsentChanged: ring.consent.invalidate,
			Listening: func() {
				ring.cache.dropKeys() // announcements made meanwhile were missed
				ring.consent.dropAll()
				ring.cache.setDegraded(false)
				ring.consent.setDegraded(false)
				ring.watch.set(WatcherListening, nil)
			},
			Lost: func(err error) {
				ring.cache.setDegraded(true)
				ring.cache.dropKeys()
				ring.consent.setDegraded(true)
				ring.consent.dropAll()
				ring.watch.set(WatcherLost, err)
				if ring.watch.onError != nil {
					ring.watch.onError(err)
				}
			},
		})
	}()
}
