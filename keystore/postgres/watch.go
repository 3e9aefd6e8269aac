package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/keystore"
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

// Announcements on Channel: an erased ID is sent as it is; a readmitted
// one carries readmitPrefix, and one whose consent changed consentPrefix,
// which no valid ID starts with (they begin with a space). Releases that
// predate consent drop consentPrefix payloads as invalid IDs.
const (
	readmitPrefix = " readmit "
	consentPrefix = " consent "
)

// WatchErasures implements keystore.ErasureWatcher with LISTEN on Channel,
// over its own connection (not one from the pool), reconnecting with a
// backoff of at most one second. ev.Lost is called as soon as the
// connection fails, before any reconnection is tried. Payloads that are not
// valid record IDs are dropped.
func (s *Store) WatchErasures(ctx context.Context, ev keystore.ErasureEvents) error {
	backoff := watchMinBackoff
	for {
		err := s.listen(ctx, ev, func() { backoff = watchMinBackoff })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ev.Lost != nil {
			ev.Lost(err)
		}
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

// listen runs one connection's life: LISTEN, tell the caller it is
// listening, then deliver announcements until the connection fails.
func (s *Store) listen(ctx context.Context, ev keystore.ErasureEvents, connected func()) error {
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
	if ev.Listening != nil {
		ev.Listening() // anything announced before LISTEN took effect was missed
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, watchPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			deliver(ev, n.Payload)
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

// deliver passes one announcement to its callback, dropping any payload
// that is not a valid record ID: anyone who can connect can NOTIFY.
func deliver(ev keystore.ErasureEvents, payload string) {
	if id, ok := strings.CutPrefix(payload, consentPrefix); ok {
		if keystore.ValidateID(id) == nil && ev.ConsentChanged != nil {
			ev.ConsentChanged(id)
		}
		return
	}
	id, readmitted := strings.CutPrefix(payload, readmitPrefix)
	if keystore.ValidateID(id) != nil {
		return
	}
	switch {
	case readmitted && ev.Readmitted != nil:
		ev.Readmitted(id)
	case !readmitted && ev.Erased != nil:
		ev.Erased(id)
	}
}
