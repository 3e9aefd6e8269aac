package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Legal holds, the erasure request log and consent (schema version 4).
// Holds and consent changes take the ID's advisory lock, as erasures do,
// so a hold and an erasure of one ID resolve in one order. Every consent
// change is announced on Channel (with the prefix " consent "), so that
// watching instances drop what they cache of it at once.

var (
	_ keystore.Holder       = (*Store)(nil)
	_ keystore.RequestLog   = (*Store)(nil)
	_ keystore.ConsentStore = (*Store)(nil)
)

// heldTx returns a *keystore.HoldError if id is under legal hold.
func heldTx(ctx context.Context, tx pgx.Tx, id string) error {
	var ref string
	err := tx.QueryRow(ctx, `SELECT reference FROM fieldcrypt_holds WHERE id = $1 ORDER BY held_at, reference LIMIT 1`, id).Scan(&ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return &keystore.HoldError{ID: id, Reference: ref}
}

func hasRightsTx(ctx context.Context, tx pgx.Tx, id string) (bool, error) {
	var exists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_holds WHERE id = $1) OR EXISTS (SELECT 1 FROM fieldcrypt_consent WHERE id = $1)`, id).Scan(&exists)
	return exists, err
}

// moveRightsTx moves from's holds (keeping to's of the same reference) and
// consent (keystore.MergeConsent) to to. The caller holds both IDs' locks.
func moveRightsTx(ctx context.Context, tx pgx.Tx, from, to string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_holds (id, reference, held_by, held_at)
		SELECT $2, reference, held_by, held_at FROM fieldcrypt_holds WHERE id = $1 ON CONFLICT (id, reference) DO NOTHING`, from, to); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM fieldcrypt_holds WHERE id = $1`, from); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_consent (id, purpose, granted, actor, at)
		SELECT $2, purpose, granted, actor, at FROM fieldcrypt_consent WHERE id = $1
		ON CONFLICT (id, purpose) DO UPDATE SET granted = excluded.granted, actor = excluded.actor, at = excluded.at
		WHERE excluded.at > fieldcrypt_consent.at`, from, to)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM fieldcrypt_consent WHERE id = $1`, from); err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, consentPrefix+to)
	}
	return err
}

// at is t at the store's precision, or now if t is zero.
func (s *Store) at(t time.Time) time.Time {
	if t.IsZero() {
		return s.clock()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Hold implements keystore.Holder.
func (s *Store) Hold(ctx context.Context, id string, h keystore.HoldInfo) (bool, error) {
	if err := keystore.CheckHold(id, h); err != nil {
		return false, err
	}
	var placed bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockLive(ctx, tx, id); err != nil {
			return err
		}
		at := s.at(h.At)
		tag, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_holds (id, reference, held_by, held_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id, reference) DO NOTHING`,
			id, h.Reference, h.By, at)
		if err != nil {
			return err
		}
		if placed = tag.RowsAffected() == 1; !placed {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO fieldcrypt_hold_history (id, action, reference, actor, at) VALUES ($1, $2, $3, $4, $5)`,
			id, keystore.HoldPlaced, h.Reference, h.By, at)
		return err
	})
	if err != nil {
		return false, s.fail("hold", err)
	}
	return placed, nil
}

// Release implements keystore.Holder.
func (s *Store) Release(ctx context.Context, id string, h keystore.HoldInfo) error {
	if err := keystore.CheckHold(id, h); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockID(ctx, tx, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM fieldcrypt_holds WHERE id = $1 AND reference = $2`, id, h.Reference)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return keystore.ErrNotFound
		}
		_, err = tx.Exec(ctx, `INSERT INTO fieldcrypt_hold_history (id, action, reference, actor, at) VALUES ($1, $2, $3, $4, $5)`,
			id, keystore.HoldReleased, h.Reference, h.By, s.at(h.At))
		return err
	})
	if err != nil {
		return s.fail("release", err)
	}
	return nil
}

// Holds implements keystore.Holder.
func (s *Store) Holds(ctx context.Context, id string) ([]keystore.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT reference, held_by, held_at FROM fieldcrypt_holds WHERE id = $1 ORDER BY held_at, reference`, id)
	if err != nil {
		return nil, s.fail("holds", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Hold, error) {
		h := keystore.Hold{ID: id}
		err := row.Scan(&h.Reference, &h.By, &h.At)
		h.At = h.At.UTC()
		return h, err
	})
	if err != nil {
		return nil, s.fail("holds", err)
	}
	if out == nil {
		out = []keystore.Hold{}
	}
	return out, nil
}

// HeldIDs implements keystore.Holder.
func (s *Store) HeldIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.ids(ctx, "held ids", `SELECT DISTINCT id FROM fieldcrypt_holds WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}

// ConsentIDs implements keystore.ConsentStore.
func (s *Store) ConsentIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.ids(ctx, "consent ids", `SELECT DISTINCT id FROM fieldcrypt_consent WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}

func (s *Store) ids(ctx context.Context, op, query, after string, limit int) ([]string, error) {
	if err := keystore.CheckHistoryLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, query, after, limit)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// HoldHistory implements keystore.Holder.
func (s *Store) HoldHistory(ctx context.Context, q keystore.HistoryQuery) ([]keystore.HoldEvent, error) {
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, id, action, reference, actor, at FROM fieldcrypt_hold_history
		WHERE seq > $1 AND ($2 = '' OR id = $2) ORDER BY seq LIMIT $3`, q.After, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("hold history", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.HoldEvent, error) {
		var e keystore.HoldEvent
		err := row.Scan(&e.Seq, &e.ID, &e.Action, &e.Reference, &e.By, &e.At)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, s.fail("hold history", err)
	}
	return out, nil
}

// AppendRequest implements keystore.RequestLog.
func (s *Store) AppendRequest(ctx context.Context, e keystore.RequestEvent) (keystore.RequestEvent, error) {
	if err := keystore.CheckRequest(e); err != nil {
		return keystore.RequestEvent{}, err
	}
	e.At = s.at(e.At)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		request := e.Request
		if e.Action == keystore.RequestReceived {
			request = 0 // a received event is its own request: read back as its seq
			e.Deadline = e.Deadline.UTC().Truncate(time.Microsecond)
		} else {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_requests WHERE seq = $1 AND id = $2 AND action = $3)`,
				e.Request, e.ID, keystore.RequestReceived).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return keystore.ErrNotFound
			}
			e.Ticket, e.Deadline = "", time.Time{}
		}
		err := tx.QueryRow(ctx, `INSERT INTO fieldcrypt_requests (request, id, action, at, actor, ticket, deadline, receipt_seq, reference)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq`,
			request, e.ID, e.Action, e.At, e.By, e.Ticket, nullTime(e.Deadline), e.ReceiptSeq, e.Reference).Scan(&e.Seq)
		if e.Action == keystore.RequestReceived {
			e.Request = e.Seq
		}
		return err
	})
	if err != nil {
		return keystore.RequestEvent{}, s.fail("append request", err)
	}
	return e, nil
}

// RequestEvents implements keystore.RequestLog.
func (s *Store) RequestEvents(ctx context.Context, q keystore.HistoryQuery) ([]keystore.RequestEvent, error) {
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, request, id, action, at, actor, ticket, deadline, receipt_seq, reference
		FROM fieldcrypt_requests WHERE seq > $1 AND ($2 = '' OR id = $2) ORDER BY seq LIMIT $3`, q.After, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("request events", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.RequestEvent, error) {
		var e keystore.RequestEvent
		var deadline *time.Time
		if err := row.Scan(&e.Seq, &e.Request, &e.ID, &e.Action, &e.At, &e.By, &e.Ticket, &deadline, &e.ReceiptSeq, &e.Reference); err != nil {
			return e, err
		}
		e.At = e.At.UTC()
		if deadline != nil {
			e.Deadline = deadline.UTC()
		}
		if e.Request == 0 {
			e.Request = e.Seq
		}
		return e, nil
	})
	if err != nil {
		return nil, s.fail("request events", err)
	}
	return out, nil
}

// SetConsent implements keystore.ConsentStore. The change is announced on
// Channel when the transaction commits.
func (s *Store) SetConsent(ctx context.Context, c keystore.ConsentChange) (keystore.ConsentEvent, error) {
	if err := keystore.CheckConsent(c); err != nil {
		return keystore.ConsentEvent{}, err
	}
	e := keystore.ConsentEvent{ID: c.ID, Purpose: c.Purpose, Action: keystore.ConsentAction(c.Grant), Actor: c.Actor, At: s.at(c.At)}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockLive(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO fieldcrypt_consent_history (id, purpose, action, actor, at) VALUES ($1, $2, $3, $4, $5) RETURNING seq`,
			c.ID, c.Purpose, e.Action, c.Actor, e.At).Scan(&e.Seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_consent (id, purpose, granted, actor, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id, purpose) DO UPDATE SET granted = excluded.granted, actor = excluded.actor, at = excluded.at
			WHERE excluded.at >= fieldcrypt_consent.at`, c.ID, c.Purpose, c.Grant, c.Actor, e.At); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, consentPrefix+c.ID)
		return err
	})
	if err != nil {
		return keystore.ConsentEvent{}, s.fail("set consent", err)
	}
	return e, nil
}

// Consents implements keystore.ConsentStore.
func (s *Store) Consents(ctx context.Context, id string) ([]keystore.Consent, error) {
	rows, err := s.pool.Query(ctx, `SELECT purpose, granted, actor, at FROM fieldcrypt_consent WHERE id = $1 ORDER BY purpose`, id)
	if err != nil {
		return nil, s.fail("consents", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Consent, error) {
		c := keystore.Consent{ID: id}
		err := row.Scan(&c.Purpose, &c.Granted, &c.Actor, &c.At)
		c.At = c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, s.fail("consents", err)
	}
	if out == nil {
		out = []keystore.Consent{}
	}
	return out, nil
}

// ConsentHistory implements keystore.ConsentStore.
func (s *Store) ConsentHistory(ctx context.Context, q keystore.HistoryQuery) ([]keystore.ConsentEvent, error) {
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, id, purpose, action, actor, at FROM fieldcrypt_consent_history
		WHERE seq > $1 AND ($2 = '' OR id = $2) ORDER BY seq LIMIT $3`, q.After, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("consent history", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.ConsentEvent, error) {
		var e keystore.ConsentEvent
		err := row.Scan(&e.Seq, &e.ID, &e.Purpose, &e.Action, &e.Actor, &e.At)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, s.fail("consent history", err)
	}
	return out, nil
}
