package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// WatcherApplicationName is the application_name of the listening
// connection, so operators (and tests) can find it in pg_stat_activity.
const WatcherApplicationName = "fieldcrypt-erasure-watcher"

// Reconnection backoff of the erasure listener.
const (
	watchMinBackoff = 50 * time.Millisecond
	watchMaxBackoff = 1 * time.Second
	// watchPing bounds how long a silently dead connection (no reset from
	// the network) can go unnoticed.
	watchPing = 5 * time.Second
)

// WatchErasures implements keystore.ErasureWatcher with LISTEN on Channel,
// over its own connection (not one from the pool), reconnecting with a
// backoff of at most one second.
func (s *Store) WatchErasures(ctx context.Context, onErase func(id string), onReset func()) error {
	backoff := watchMinBackoff
	for {
		err := s.listen(ctx, onErase, onReset, func() { backoff = watchMinBackoff })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = err // the connection failed or was cut: reconnect
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}

// listen runs one connection's life: LISTEN, reset the caller's cache, then
// deliver notifications until the connection fails.
func (s *Store) listen(ctx context.Context, onErase func(string), onReset func(), connected func()) error {
	cfg, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = WatcherApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return err
	}
	connected()
	onReset() // anything erased before LISTEN took effect was not announced to us
	for {
		wctx, cancel := context.WithTimeout(ctx, watchPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			onErase(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if err := conn.Ping(ctx); err != nil {
				return err
			}
		default:
			return err
		}
	}
}
