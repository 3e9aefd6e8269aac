package pii

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// The retention sweep in the background (WithRetentionSweep): every
// interval, one Protector among those sharing the key store runs Sweep.
//
// One at a time: on a store that is a keystore.SweepLocker, a run first
// takes the store's sweep lock without waiting, and is skipped if another
// instance holds it (keystore/postgres: an advisory lock, across every
// process; keystore/sqlite and memory: within the process). On other
// stores every instance sweeps; that is safe, only wasteful.
//
// Nothing half-done: each record is erased by the store's DeleteExpired in
// a transaction of its own (tombstone, receipt and deletion together,
// after re-checking the deadline and the holds), so a sweep stopped at any
// point, by Close, a cancelled context or the process dying, leaves every
// subject either erased with its receipt or untouched; the next run
// carries on.
//
// Each run is logged (counts only, never record IDs or subjects) to the
// configured logger, slog.Default() by default: Info for a run that erased
// or skipped something, Debug for an empty run or one skipped because
// another instance holds the lock, Error for a failure.

// DefaultSweepTimeout bounds one background sweep run.
const DefaultSweepTimeout = 10 * time.Minute

// SweepConfig configures WithRetentionSweepConfig.
type SweepConfig struct {
	// Every is the interval between runs (required, at least one second).
	// The first run starts one interval after New.
	Every time.Duration
	// Timeout bounds one run; 0 means DefaultSweepTimeout.
	Timeout time.Duration
	// Logger receives one record per run; nil means slog.Default().
	Logger *slog.Logger
	// OnRun, if not nil, is called after every run, from the sweeping
	// goroutine (for metrics and tests).
	OnRun func(SweepRun)
}

// SweepRun is the outcome of one background sweep run (or of
// RunRetentionSweep).
type SweepRun struct {
	Started time.Time
	// Skipped: another instance held the sweep lock; nothing was done.
	Skipped bool
	// Erased and Held count the subjects erased, and the expired ones left
	// alone because of a legal hold.
	Erased, Held int
	// Err is the run's error, if any (what was erased before it stays
	// erased and counted).
	Err error
}

// WithRetentionSweep runs the retention sweep (Sweep) in the background
// every interval, logging to slog.Default(); see WithRetentionSweepConfig.
// Close stops it.
func WithRetentionSweep(every time.Duration) Option {
	return WithRetentionSweepConfig(SweepConfig{Every: every})
}

// WithRetentionSweepConfig runs the retention sweep in the background as
// c says: one instance at a time on stores that are keystore.SweepLockers,
// each run logged, nothing left half-done by a run that stops (see the
// package doc's Retention section). Close stops it, waiting for a run in
// progress to notice.
func WithRetentionSweepConfig(c SweepConfig) Option {
	return func(cfg *config) error {
		if c.Every < time.Second {
			return fmt.Errorf("pii: retention sweep interval must be at least one second")
		}
		if c.Timeout < 0 {
			return fmt.Errorf("pii: retention sweep timeout must not be negative")
		}
		if c.Timeout == 0 {
			c.Timeout = DefaultSweepTimeout
		}
		cfg.sweep = &c
		return nil
	}
}

// sweeper is the background sweep of a Protector.
type sweeper struct {
	stop context.CancelFunc
	done chan struct{}
}

// startSweep starts the background sweep.
func (p *Protector) startSweep(c SweepConfig) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sweeper{stop: cancel, done: make(chan struct{})}
	p.sweeper = s
	go func() {
		defer close(s.done)
		t := time.NewTicker(c.Every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, c.Timeout)
			run := p.RunRetentionSweep(rctx)
			rcancel()
			logSweep(c.Logger, run)
			if c.OnRun != nil {
				c.OnRun(run)
			}
		}
	}()
}

// stopSweep stops the background sweep, if any, and waits for it.
func (p *Protector) stopSweep() {
	if p.sweeper != nil {
		p.sweeper.stop()
		<-p.sweeper.done
	}
}

// RunRetentionSweep runs one sweep now, as the background sweep does: it
// takes the store's sweep lock if the store has one (returning a run with
// Skipped set if another instance holds it), then sweeps with the current
// time. Its result is also in the returned run's Err.
func (p *Protector) RunRetentionSweep(ctx context.Context) SweepRun {
	run := SweepRun{Started: p.now()}
	if l, ok := p.ring.store.(keystore.SweepLocker); ok {
		unlock, got, err := l.TryLockSweep(ctx)
		if err != nil {
			run.Err = fmt.Errorf("pii: retention sweep: %w", err)
			return run
		}
		if !got {
			run.Skipped = true
			return run
		}
		defer unlock()
	}
	rep, err := p.Sweep(ctx, p.now(), nil)
	run.Erased, run.Held, run.Err = len(rep.Receipts), len(rep.Held), err
	// AUDIT HOOK: once the audit helper's pii.WithAuditor lands, emit one
	// event per run here (action "retention.sweep"; counts only: erased,
	// held, skipped, error class — never record IDs), from this function
	// so that RunRetentionSweep and the background sweep both report.
	return run
}

// logSweep logs one run: counts only.
func logSweep(l *slog.Logger, run SweepRun) {
	if l == nil {
		l = slog.Default()
	}
	ctx := context.Background()
	switch {
	case run.Err != nil:
		l.LogAttrs(ctx, slog.LevelError, "fieldcrypt: retention sweep failed", slog.Int("erased", run.Erased), slog.Int("held", run.Held), slog.String("error", run.Err.Error()))
	case run.Skipped:
		l.LogAttrs(ctx, slog.LevelDebug, "fieldcrypt: retention sweep skipped: another instance holds the sweep lock")
	case run.Erased > 0 || run.Held > 0:
		l.LogAttrs(ctx, slog.LevelInfo, "fieldcrypt: retention sweep", slog.Int("erased", run.Erased), slog.Int("held", run.Held))
	default:
		l.LogAttrs(ctx, slog.LevelDebug, "fieldcrypt: retention sweep: nothing expired")
	}
}
