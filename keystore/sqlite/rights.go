package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Legal holds, the erasure request log and consent (schema version 4).
// Every writing transaction takes SQLite's write lock when it begins
// (_txlock=immediate), so a hold and an erasure of one ID resolve in one
// order. Consent changes are not announced: other processes read consent
// from the file (see the pii package on how long a cached answer lives).

var (
	_ keystore.Holder       = (*Store)(nil)
	_ keystore.RequestLog   = (*Store)(nil)
	_ keystore.ConsentStore = (*Store)(nil)
)

type execer interface {
	queryer
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// heldTx returns a *keystore.HoldError if id is under legal hold.
func heldTx(ctx context.Context, q queryer, id string) error {
	var ref string
	err := q.QueryRowContext(ctx, `SELECT reference FROM fieldcrypt_holds WHERE id = ? ORDER BY held_us, reference LIMIT 1`, id).Scan(&ref)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return &keystore.HoldError{ID: id, Reference: ref}
}

func hasRightsTx(ctx context.Context, q queryer, id string) (bool, error) {
	var exists bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_holds WHERE id = ?1) OR EXISTS (SELECT 1 FROM fieldcrypt_consent WHERE id = ?1)`, id).Scan(&exists)
	return exists, err
}

// moveRightsTx moves from's holds (keeping to's of the same reference) and
// consent (keystore.MergeConsent) to to.
func moveRightsTx(ctx context.Context, tx execer, from, to string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_holds (id, reference, held_by, held_us)
		SELECT ?2, reference, held_by, held_us FROM fieldcrypt_holds WHERE id = ?1 ON CONFLICT (id, reference) DO NOTHING`, from, to); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_holds WHERE id = ?`, from); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_consent (id, purpose, granted, actor, at_us)
		SELECT ?2, purpose, granted, actor, at_us FROM fieldcrypt_consent WHERE id = ?1 AND true
		ON CONFLICT (id, purpose) DO UPDATE SET granted = excluded.granted, actor = excluded.actor, at_us = excluded.at_us
		WHERE excluded.at_us > fieldcrypt_consent.at_us`, from, to); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_consent WHERE id = ?`, from)
	return err
}

// at is t in microseconds, or now if t is zero.
func (s *Store) at(t time.Time) int64 {
	if t.IsZero() {
		return s.clock().UnixMicro()
	}
	return t.UnixMicro()
}

// Hold implements keystore.Holder.
func (s *Store) Hold(ctx context.Context, id string, h keystore.HoldInfo) (bool, error) {
	if err := keystore.CheckHold(id, h); err != nil {
		return false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, s.fail("hold", err)
	}
	defer tx.Rollback()
	if tombstoned, err := hasTombstone(ctx, tx, id); err != nil {
		return false, s.fail("hold", err)
	} else if tombstoned {
		return false, keystore.ErrTombstoned
	}
	at := s.at(h.At)
	res, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_holds (id, reference, held_by, held_us) VALUES (?, ?, ?, ?) ON CONFLICT (id, reference) DO NOTHING`,
		id, h.Reference, h.By, at)
	if err != nil {
		return false, s.fail("hold", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, s.fail("hold", err)
	} else if n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_hold_history (id, action, reference, actor, at_us) VALUES (?, ?, ?, ?, ?)`,
		id, keystore.HoldPlaced, h.Reference, h.By, at); err != nil {
		return false, s.fail("hold", err)
	}
	if err := tx.Commit(); err != nil {
		return false, s.fail("hold", err)
	}
	return true, nil
}

// Release implements keystore.Holder.
func (s *Store) Release(ctx context.Context, id string, h keystore.HoldInfo) error {
	if err := keystore.CheckHold(id, h); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("release", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_holds WHERE id = ? AND reference = ?`, id, h.Reference)
	if err != nil {
		return s.fail("release", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail("release", err)
	} else if n == 0 {
		return keystore.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_hold_history (id, action, reference, actor, at_us) VALUES (?, ?, ?, ?, ?)`,
		id, keystore.HoldReleased, h.Reference, h.By, s.at(h.At)); err != nil {
		return s.fail("release", err)
	}
	return s.failIf("release", tx.Commit())
}

// Holds implements keystore.Holder.
func (s *Store) Holds(ctx context.Context, id string) ([]keystore.Hold, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT reference, held_by, held_us FROM fieldcrypt_holds WHERE id = ? ORDER BY held_us, reference`, id)
	if err != nil {
		return nil, s.fail("holds", err)
	}
	defer rows.Close()
	out := []keystore.Hold{}
	for rows.Next() {
		h := keystore.Hold{ID: id}
		var at int64
		if err := rows.Scan(&h.Reference, &h.By, &at); err != nil {
			return nil, s.fail("holds", err)
		}
		h.At = time.UnixMicro(at).UTC()
		out = append(out, h)
	}
	return out, s.failIf("holds", rows.Err())
}

// HeldIDs implements keystore.Holder.
func (s *Store) HeldIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.ids(ctx, "held ids", `SELECT DISTINCT id FROM fieldcrypt_holds WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// ConsentIDs implements keystore.ConsentStore.
func (s *Store) ConsentIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.ids(ctx, "consent ids", `SELECT DISTINCT id FROM fieldcrypt_consent WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

func (s *Store) ids(ctx context.Context, op, query, after string, limit int) ([]string, error) {
	if err := keystore.CheckHistoryLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, query, after, limit)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, id)
	}
	return out, s.failIf(op, rows.Err())
}

// HoldHistory implements keystore.Holder.
func (s *Store) HoldHistory(ctx context.Context, q keystore.HistoryQuery) ([]keystore.HoldEvent, error) {
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, id, action, reference, actor, at_us FROM fieldcrypt_hold_history
		WHERE seq > ? AND (? = '' OR id = ?) ORDER BY seq LIMIT ?`, q.After, q.ID, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("hold history", err)
	}
	defer rows.Close()
	var out []keystore.HoldEvent
	for rows.Next() {
		var e keystore.HoldEvent
		var at int64
		if err := rows.Scan(&e.Seq, &e.ID, &e.Action, &e.Reference, &e.By, &at); err != nil {
			return nil, s.fail("hold history", err)
		}
		e.At = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, s.failIf("hold history", rows.Err())
}

// AppendRequest implements keystore.RequestLog.
func (s *Store) AppendRequest(ctx context.Context, e keystore.RequestEvent) (keystore.RequestEvent, error) {
	if err := keystore.CheckRequest(e); err != nil {
		return keystore.RequestEvent{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return keystore.RequestEvent{}, s.fail("append request", err)
	}
	defer tx.Rollback()
	e.At = time.UnixMicro(s.at(e.At)).UTC()
	if e.Action == keystore.RequestReceived {
		e.Deadline = e.Deadline.UTC().Truncate(time.Microsecond)
	} else {
		var ok bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_requests WHERE seq = ? AND id = ? AND action = ?)`,
			e.Request, e.ID, keystore.RequestReceived).Scan(&ok); err != nil {
			return keystore.RequestEvent{}, s.fail("append request", err)
		}
		if !ok {
			return keystore.RequestEvent{}, keystore.ErrNotFound
		}
		e.Ticket, e.Deadline = "", time.Time{}
	}
	request := e.Request
	if e.Action == keystore.RequestReceived {
		request = 0 // a received event is its own request: read back as its seq
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_requests (request, id, action, at_us, actor, ticket, deadline_us, receipt_seq, reference)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, request, e.ID, e.Action, e.At.UnixMicro(), e.By, e.Ticket, micros(e.Deadline), e.ReceiptSeq, e.Reference)
	if err != nil {
		return keystore.RequestEvent{}, s.fail("append request", err)
	}
	if e.Seq, err = res.LastInsertId(); err != nil {
		return keystore.RequestEvent{}, s.fail("append request", err)
	}
	if e.Action == keystore.RequestReceived {
		e.Request = e.Seq
	}
	if err := tx.Commit(); err != nil {
		return keystore.RequestEvent{}, s.fail("append request", err)
	}
	return e, nil
}

// RequestEvents implements keystore.RequestLog.
func (s *Store) RequestEvents(ctx context.Context, q keystore.HistoryQuery) ([]keystore.RequestEvent, error) {
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, request, id, action, at_us, actor, ticket, deadline_us, receipt_seq, reference
		FROM fieldcrypt_requests WHERE seq > ? AND (? = '' OR id = ?) ORDER BY seq LIMIT ?`, q.After, q.ID, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("request events", err)
	}
	defer rows.Close()
	var out []keystore.RequestEvent
	for rows.Next() {
		var e keystore.RequestEvent
		var at, deadline int64
		if err := rows.Scan(&e.Seq, &e.Request, &e.ID, &e.Action, &at, &e.By, &e.Ticket, &deadline, &e.ReceiptSeq, &e.Reference); err != nil {
			return nil, s.fail("request events", err)
		}
		e.At, e.Deadline = time.UnixMicro(at).UTC(), fromMicros(deadline)
		if e.Request == 0 {
			e.Request = e.Seq
		}
		out = append(out, e)
	}
	return out, s.failIf("request events", rows.Err())
}

// SetConsent implements keystore.ConsentStore.
func (s *Store) SetConsent(ctx context.Context, c keystore.ConsentChange) (keystore.ConsentEvent, error) {
	if err := keystore.CheckConsent(c); err != nil {
		return keystore.ConsentEvent{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	}
	defer tx.Rollback()
	if tombstoned, err := hasTombstone(ctx, tx, c.ID); err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	} else if tombstoned {
		return keystore.ConsentEvent{}, keystore.ErrTombstoned
	}
	at := s.at(c.At)
	e := keystore.ConsentEvent{ID: c.ID, Purpose: c.Purpose, Action: keystore.ConsentAction(c.Grant), Actor: c.Actor, At: time.UnixMicro(at).UTC()}
	res, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_consent_history (id, purpose, action, actor, at_us) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.Purpose, e.Action, c.Actor, at)
	if err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	}
	if e.Seq, err = res.LastInsertId(); err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_consent (id, purpose, granted, actor, at_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id, purpose) DO UPDATE SET granted = excluded.granted, actor = excluded.actor, at_us = excluded.at_us
		WHERE excluded.at_us >= fieldcrypt_consent.at_us`, c.ID, c.Purpose, c.Grant, c.Actor, at); err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	}
	if err := tx.Commit(); err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	}
	return e, nil
}

// Consents implements keystore.ConsentStore.
func (s *Store) Consents(ctx context.Context, id string) ([]keystore.Consent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT purpose, granted, actor, at_us FROM fieldcrypt_consent WHERE id = ? ORDER BY purpose`, id)
	if err != nil {
		return nil, s.fail("consents", err)
	}
	defer rows.Close()
	out := []keystore.Consent{}
	for rows.Next() {
		c := keystore.Consent{ID: id}
		var at int64
		if err := rows.Scan(&c.Purpose, &c.Granted, &c.Actor, &at); err != nil {
			return nil, s.fail("consents", err)
		}
		c.At = time.UnixMicro(at).UTC()
		out = append(out, c)
	}
	return out, s.failIf("consents", rows.Err())
}

// ConsentHistory implements keystore.ConsentStore.
func (s *Store) ConsentHistory(ctx context.Context, q keystore.HistoryQuery) ([]keystore.ConsentEvent, error) {
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, id, purpose, action, actor, at_us FROM fieldcrypt_consent_history
		WHERE seq > ? AND (? = '' OR id = ?) ORDER BY seq LIMIT ?`, q.After, q.ID, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("consent history", err)
	}
	defer rows.Close()
	var out []keystore.ConsentEvent
	for rows.Next() {
		var e keystore.ConsentEvent
		var at int64
		if err := rows.Scan(&e.Seq, &e.ID, &e.Purpose, &e.Action, &e.Actor, &at); err != nil {
			return nil, s.fail("consent history", err)
		}
		e.At = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, s.failIf("consent history", rows.Err())
}
