package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.AuditLog = (*Store)(nil)

type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func auditHead(ctx context.Context, q rowQueryer) (audit.Head, error) {
	var h audit.Head
	var seq, last int64
	err := q.QueryRowContext(ctx, `SELECT seq, mac, last_event FROM fieldcrypt_audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h.MAC, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return audit.Head{}, err
	}
	h.Seq, h.Events = uint64(seq), uint64(last)
	return h, nil
}

// AppendAudit implements keystore.AuditLog. The transaction takes
// SQLite's write lock when it begins (the store opens it with
// _txlock=immediate), before the head is read.
func (s *Store) AppendAudit(ctx context.Context, extend func(audit.Head) ([]audit.Row, error)) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("append audit", err)
	}
	defer tx.Rollback()
	head, err := auditHead(ctx, tx)
	if err != nil {
		return s.fail("append audit", err)
	}
	rows, err := extend(head)
	if err != nil {
		return err
	}
	if err := keystore.CheckAuditRows(head, rows); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO fieldcrypt_audit (seq, first_event, last_event, prev, events, mac) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return s.fail("append audit", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, int64(r.Seq), int64(r.First), int64(r.Last), r.Prev, string(r.Events), r.MAC); err != nil {
			return s.fail("append audit", err)
		}
	}
	return s.failIf("append audit", tx.Commit())
}

// AuditRows implements keystore.AuditLog.
func (s *Store) AuditRows(ctx context.Context, after uint64, limit int) ([]audit.Row, error) {
	if err := keystore.CheckAuditPage(limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, first_event, last_event, prev, events, mac FROM fieldcrypt_audit WHERE seq > ? ORDER BY seq LIMIT ?`, int64(min(after, 1<<63-1)), limit)
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
	return out, s.failIf("audit rows", rows.Err())
}

// AuditHead implements keystore.AuditLog.
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	h, err := auditHead(ctx, s.db)
	if err != nil {
		return audit.Head{}, s.fail("audit head", err)
	}
	return h, nil
}
