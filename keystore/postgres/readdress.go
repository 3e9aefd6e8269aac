package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.Readdresser = (*Store)(nil)

// Readdress implements keystore.Readdresser, in one transaction holding the
// advisory locks of both IDs (taken in a fixed order). Records it erases
// are announced on Channel under To, as Delete announces an erasure.
func (s *Store) Readdress(ctx context.Context, m keystore.Move) (keystore.Moved, error) {
	if err := keystore.CheckMove(m); err != nil {
		return keystore.Moved{}, err
	}
	var out keystore.Moved
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = keystore.Moved{}
		first, second := m.From, m.To
		if second < first {
			first, second = second, first
		}
		if err := lockID(ctx, tx, first); err != nil {
			return err
		}
		if err := lockID(ctx, tx, second); err != nil {
			return err
		}
		fromT, fromTomb, err := tombstoneTx(ctx, tx, m.From)
		if err != nil {
			return err
		}
		toT, toTomb, err := tombstoneTx(ctx, tx, m.To)
		if err != nil {
			return err
		}
		fromRec, fromFound, err := findTx(ctx, tx, m.From)
		if err != nil {
			return err
		}
		toRec, toFound, err := findTx(ctx, tx, m.To)
		if err != nil {
			return err
		}
		fromRights, err := hasRightsTx(ctx, tx, m.From)
		if err != nil {
			return err
		}
		if !fromTomb && !fromFound && !fromRights {
			return keystore.ErrNotFound
		}
		if fromTomb || toTomb {
			for _, id := range []string{m.From, m.To} {
				if err := heldTx(ctx, tx, id); err != nil {
					return err
				}
			}
		}
		if !fromTomb && !toTomb && fromFound {
			if toFound {
				return keystore.ErrExists
			}
			if err := keystore.CheckMoveRecord(m, fromRec); err != nil {
				return err
			}
		}
		if fromRights {
			if err := moveRightsTx(ctx, tx, m.From, m.To); err != nil {
				return err
			}
			out.Rights = true
		}
		if !fromTomb && !fromFound {
			return nil // rights only
		}
		if fromTomb || toTomb {
			t := toT
			if !toTomb {
				t = fromT
				if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_tombstones (id, erased_at, reason) VALUES ($1, $2, $3)`,
					m.To, t.ErasedAt, t.Reason); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM fieldcrypt_tombstones WHERE id = $1`, m.From); err != nil {
				return err
			}
			now := s.clock()
			for _, r := range []struct {
				rec   keystore.Record
				found bool
				id    string
			}{{fromRec, fromFound, m.From}, {toRec, toFound, m.To}} {
				tokens, err := removeOwnerTokens(ctx, tx, r.id)
				if err != nil {
					return err
				}
				if !r.found && tokens == 0 {
					continue
				}
				if _, err := tx.Exec(ctx, `DELETE FROM fieldcrypt_keys WHERE id = $1`, r.id); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_receipts (id, kek_id, key_ids, erased_at, reason, tokens) VALUES ($1, $2, $3, $4, $5, $6)`,
					m.To, r.rec.KEKID, keyIDs(r.rec.KeyIDs), now, t.Reason, tokens); err != nil {
					return err
				}
				if r.found {
					out.Erased = append(out.Erased, r.rec)
				}
			}
			out.Tombstoned, out.ErasedAt, out.Reason = true, t.ErasedAt, t.Reason
			if len(out.Erased) > 0 {
				_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, m.To)
				return err
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM fieldcrypt_keys WHERE id = $1`, m.From); err != nil {
			return err
		}
		if err := moveOwnerTokens(ctx, tx, m.From, m.To); err != nil {
			return err
		}
		out.Record, err = scanRecord(tx.QueryRow(ctx, `
			INSERT INTO fieldcrypt_keys (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING `+recordColumns,
			m.To, m.Record.KEKID, m.Record.Wrapped, keyIDs(m.Record.KeyIDs), fromRec.Version+1, fromRec.Incarnation,
			fromRec.Created, s.clock(), nullTime(fromRec.RetainUntil)))
		out.Moved = err == nil
		return err
	})
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	return out, nil
}

func tombstoneTx(ctx context.Context, tx pgx.Tx, id string) (keystore.Tombstone, bool, error) {
	t := keystore.Tombstone{ID: id}
	err := tx.QueryRow(ctx, `SELECT erased_at, reason FROM fieldcrypt_tombstones WHERE id = $1`, id).Scan(&t.ErasedAt, &t.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return keystore.Tombstone{}, false, nil
	} else if err != nil {
		return keystore.Tombstone{}, false, err
	}
	t.ErasedAt = t.ErasedAt.UTC()
	return t, true, nil
}

func findTx(ctx context.Context, tx pgx.Tx, id string) (keystore.Record, bool, error) {
	rec, err := scanRecord(tx.QueryRow(ctx, `SELECT `+recordColumns+` FROM fieldcrypt_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return keystore.Record{}, false, nil
	}
	return rec, err == nil, err
}
