package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Vaulted tokens (keystore.TokenVault), schema version 6: the mappings in
// fieldcrypt_tokens, the count of each partition in fieldcrypt_token_counts
// (kept in the same transactions as the mappings, so the occupancy check
// costs one row read), and a tokens column in fieldcrypt_receipts.

var _ keystore.TokenVault = (*Store)(nil)

const tokenColumns = `space, part, owner, token, idx, sealed, expires_us, created_us`

type tokenTx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// PutTokens implements keystore.TokenVault.
func (s *Store) PutTokens(ctx context.Context, now time.Time, puts []keystore.TokenPut) ([]keystore.TokenPutResult, error) {
	for _, p := range puts {
		if err := keystore.ValidateTokenMapping(p.TokenMapping); err != nil {
			return nil, err
		}
		if p.Limit < 0 {
			return nil, fmt.Errorf("%w: negative token limit", keystore.ErrInvalid)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("put tokens", err)
	}
	defer tx.Rollback()
	out := make([]keystore.TokenPutResult, len(puts))
	nowUS, created := micros(now), s.clock().UnixMicro()
	gone := map[string]bool{} // tombstoned, by owner
	for i, p := range puts {
		if p.Owner != "" {
			g, seen := gone[p.Owner]
			if !seen {
				if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = ?)`, p.Owner).Scan(&g); err != nil {
					return nil, s.fail("put tokens", err)
				}
				gone[p.Owner] = g
			}
			if g {
				out[i].Err = keystore.ErrTombstoned
				continue
			}
		}
		if out[i], err = putToken(ctx, tx, p, nowUS, created); err != nil {
			return nil, s.fail("put tokens", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("put tokens", err)
	}
	return out, nil
}

func putToken(ctx context.Context, tx tokenTx, p keystore.TokenPut, now, created int64) (keystore.TokenPutResult, error) {
	var res keystore.TokenPutResult
	m := p.TokenMapping
	// Expired mappings that stand in the way go first.
	del, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_tokens WHERE space = ? AND part = ? AND (token = ? OR idx = ?)
		AND expires_us > 0 AND expires_us <= ?`, m.Space, m.Partition, m.Token, m.Index, now)
	if err != nil {
		return res, err
	}
	if n, _ := del.RowsAffected(); n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE fieldcrypt_token_counts SET n = n - ? WHERE space = ? AND part = ?`, n, m.Space, m.Partition); err != nil {
			return res, err
		}
	}
	if m.Index != nil {
		found, err := queryTokens(ctx, tx, `WHERE space = ? AND part = ? AND idx = ? AND (expires_us = 0 OR expires_us > ?)`, m.Space, m.Partition, m.Index, now)
		if err != nil {
			return res, err
		}
		var own, other *keystore.TokenMapping
		for j := range found {
			if found[j].Owner == m.Owner {
				own = &found[j]
			} else if other == nil {
				other = &found[j]
			}
		}
		if own != nil {
			res.Existing = own
			return res, nil
		}
		if other != nil && other.Token != m.Token {
			res.Existing = other
			return res, nil
		}
	}
	holders, err := queryTokens(ctx, tx, `WHERE space = ? AND part = ? AND token = ? AND (expires_us = 0 OR expires_us > ?)`, m.Space, m.Partition, m.Token, now)
	if err != nil {
		return res, err
	}
	for _, h := range holders {
		if m.Index == nil || h.Index == nil || string(h.Index) != string(m.Index) || h.Owner == m.Owner {
			res.Collision = true
			return res, nil
		}
	}
	var n int64
	err = tx.QueryRowContext(ctx, `SELECT n FROM fieldcrypt_token_counts WHERE space = ? AND part = ?`, m.Space, m.Partition).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, err
	}
	if p.Limit > 0 && n >= p.Limit {
		res.Err = keystore.ErrTokenSpaceFull
		return res, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Space, m.Partition, m.Owner, m.Token, m.Index, m.Sealed, micros(m.ExpiresAt), created); err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_token_counts (space, part, n) VALUES (?, ?, 1)
		ON CONFLICT (space, part) DO UPDATE SET n = n + 1`, m.Space, m.Partition); err != nil {
		return res, err
	}
	res.Stored = true
	return res, nil
}

func queryTokens(ctx context.Context, q tokenTx, where string, args ...any) ([]keystore.TokenMapping, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+tokenColumns+` FROM fieldcrypt_tokens `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []keystore.TokenMapping{}
	for rows.Next() {
		var m keystore.TokenMapping
		var expires, created int64
		if err := rows.Scan(&m.Space, &m.Partition, &m.Owner, &m.Token, &m.Index, &m.Sealed, &expires, &created); err != nil {
			return nil, err
		}
		m.ExpiresAt, m.Created = fromMicros(expires), fromMicros(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// GetTokens implements keystore.TokenVault.
func (s *Store) GetTokens(ctx context.Context, now time.Time, refs []keystore.TokenRef) ([][]keystore.TokenMapping, error) {
	for _, r := range refs {
		if err := keystore.ValidateTokenRef(r); err != nil {
			return nil, err
		}
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, s.fail("get tokens", err)
	}
	defer conn.Close()
	out := make([][]keystore.TokenMapping, len(refs))
	for i, r := range refs {
		if out[i], err = queryTokens(ctx, conn, `WHERE space = ? AND part = ? AND token = ? AND (expires_us = 0 OR expires_us > ?)`,
			r.Space, r.Partition, r.Token, micros(now)); err != nil {
			return nil, s.fail("get tokens", err)
		}
	}
	return out, nil
}

// FindTokens implements keystore.TokenVault.
func (s *Store) FindTokens(ctx context.Context, now time.Time, refs []keystore.TokenIndexRef) ([][]keystore.TokenMapping, error) {
	for _, r := range refs {
		if err := keystore.ValidateTokenIndexRef(r); err != nil {
			return nil, err
		}
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, s.fail("find tokens", err)
	}
	defer conn.Close()
	out := make([][]keystore.TokenMapping, len(refs))
	for i, r := range refs {
		if out[i], err = queryTokens(ctx, conn, `WHERE space = ? AND part = ? AND idx = ? AND (expires_us = 0 OR expires_us > ?)`,
			r.Space, r.Partition, r.Index, micros(now)); err != nil {
			return nil, s.fail("find tokens", err)
		}
	}
	return out, nil
}

// ExpireTokens implements keystore.TokenVault.
func (s *Store) ExpireTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: expire limit must be positive", keystore.ErrInvalid)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail("expire tokens", err)
	}
	defer tx.Rollback()
	expired, err := queryTokens(ctx, tx, `WHERE expires_us > 0 AND expires_us <= ? ORDER BY expires_us LIMIT ?`, micros(now), limit)
	if err != nil {
		return 0, s.fail("expire tokens", err)
	}
	for _, m := range expired {
		if err := deleteToken(ctx, tx, m); err != nil {
			return 0, s.fail("expire tokens", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail("expire tokens", err)
	}
	return len(expired), nil
}

func deleteToken(ctx context.Context, tx tokenTx, m keystore.TokenMapping) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_tokens WHERE space = ? AND part = ? AND token = ? AND owner = ?`,
		m.Space, m.Partition, m.Token, m.Owner); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE fieldcrypt_token_counts SET n = n - 1 WHERE space = ? AND part = ?`, m.Space, m.Partition)
	return err
}

// CountTokens implements keystore.TokenVault.
func (s *Store) CountTokens(ctx context.Context, space, partition string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT n FROM fieldcrypt_token_counts WHERE space = ? AND part = ?`, space, partition).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, s.failIf("count tokens", err)
}

// removeOwnerTokens removes the mappings of owner inside an erasing
// transaction, keeping the partition counts, and returns how many.
func removeOwnerTokens(ctx context.Context, tx tokenTx, owner string) (int64, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE fieldcrypt_token_counts SET n = n - (
			SELECT count(*) FROM fieldcrypt_tokens t WHERE t.owner = ? AND t.space = fieldcrypt_token_counts.space AND t.part = fieldcrypt_token_counts.part)
		WHERE (space, part) IN (SELECT space, part FROM fieldcrypt_tokens WHERE owner = ?)`, owner, owner); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_tokens WHERE owner = ?`, owner)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// moveOwnerTokens gives the mappings of from to owner to.
func moveOwnerTokens(ctx context.Context, tx tokenTx, from, to string) error {
	_, err := tx.ExecContext(ctx, `UPDATE fieldcrypt_tokens SET owner = ? WHERE owner = ?`, to, from)
	return err
}
