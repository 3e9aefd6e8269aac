package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.AuditLog = (*Store)(nil)

type rowQueryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func auditHead(ctx context.Context, q rowQueryer) (audit.Head, error) {
	var h audit.Head
	var seq, last int64
	err := q.QueryRow(ctx, `SELECT seq, mac, last_event FROM fieldcrypt_audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h.MAC, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return audit.Head{}, err
	}
	h.Seq, h.Events = uint64(seq), uint64(last)
	return h, nil
}

// AppendAudit implements keystore.AuditLog: under a table lock that only
// other appenders wait for, it reads the head and inserts the new rows
// (one per batch of events).
func (s *Store) AppendAudit(ctx context.Context, extend func(audit.Head) ([]audit.Row, error)) error {
	var extendErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE fieldcrypt_audit IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		head, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := extend(head)
		if err != nil {
			extendErr = err
			return err
		}
		if err := keystore.CheckAuditRows(head, rows); err != nil {
			extendErr = err
			return err
		}
		for _, r := range rows {
			if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_audit (seq, first_event, last_event, prev, events, mac) VALUES ($1, $2, $3, $4, $5, $6)`,
				int64(r.Seq), int64(r.First), int64(r.Last), r.Prev, r.Events, r.MAC); err != nil { // []byte into text: not copied to a string first
				return err
			}
		}
		return nil
	})
	if extendErr != nil {
		return extendErr
	}
	if err != nil {
		return s.fail("append audit", err)
	}
	return nil
}

// AuditRows implements keystore.AuditLog.
func (s *Store) AuditRows(ctx context.Context, after uint64, limit int) ([]audit.Row, error) {
	if err := keystore.CheckAuditPage(limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, first_event, last_event, prev, events, mac FROM fieldcrypt_audit WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(min(after, 1<<63-1)), limit)
	if err != nil {
		return nil, s.fail("audit rows", err)
	}
	defer rows.Close()
	var out []audit.Row
	for rows.Next() {
		var r audit.Row
		var seq, first, last int64
		var events string
		if err := rows.Scan(&seq, &first, &last, &r.Prev, &events, &r.MAC); err != nil {
			return nil, s.fail("audit rows", err)
		}
		r.Seq, r.First, r.Last, r.Events = uint64(seq), uint64(first), uint64(last), []byte(events)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("audit rows", err)
	}
	return out, nil
}

// AuditHead implements keystore.AuditLog.
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	h, err := auditHead(ctx, s.pool)
	if err != nil {
		return audit.Head{}, s.fail("audit head", err)
	}
	return h, nil
}
