package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.Readdresser = (*Store)(nil)

// Readdress implements keystore.Readdresser, in one transaction.
func (s *Store) Readdress(ctx context.Context, m keystore.Move) (keystore.Moved, error) {
	if err := keystore.CheckMove(m); err != nil {
		return keystore.Moved{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	defer tx.Rollback()
	fromT, fromTomb, err := tombstoneTx(ctx, tx, m.From)
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	toT, toTomb, err := tombstoneTx(ctx, tx, m.To)
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	fromRec, fromFound, err := findTx(ctx, tx, m.From)
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	toRec, toFound, err := findTx(ctx, tx, m.To)
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	fromRights, err := hasRightsTx(ctx, tx, m.From)
	if err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	if !fromTomb && !fromFound && !fromRights {
		return keystore.Moved{}, keystore.ErrNotFound
	}
	if fromTomb || toTomb {
		for _, id := range []string{m.From, m.To} {
			if err := heldTx(ctx, tx, id); err != nil {
				return keystore.Moved{}, s.fail("readdress", err)
			}
		}
	}
	if !fromTomb && !toTomb && fromFound {
		if toFound {
			return keystore.Moved{}, keystore.ErrExists
		}
		if err := keystore.CheckMoveRecord(m, fromRec); err != nil {
			return keystore.Moved{}, err
		}
	}
	var out keystore.Moved
	if fromRights {
		if err := moveRightsTx(ctx, tx, m.From, m.To); err != nil {
			return keystore.Moved{}, s.fail("readdress", err)
		}
		out.Rights = true
	}
	if !fromTomb && !fromFound {
		// Rights only.
	} else if fromTomb || toTomb {
		t := toT
		if !toTomb {
			t = fromT
			if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_tombstones (id, erased_us, reason) VALUES (?, ?, ?)`,
				m.To, t.ErasedAt.UnixMicro(), t.Reason); err != nil {
				return keystore.Moved{}, s.fail("readdress", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_tombstones WHERE id = ?`, m.From); err != nil {
			return keystore.Moved{}, s.fail("readdress", err)
		}
		now := s.clock()
		for _, r := range []struct {
			rec   keystore.Record
			found bool
			id    string
		}{{fromRec, fromFound, m.From}, {toRec, toFound, m.To}} {
			tokens, err := removeOwnerTokens(ctx, tx, r.id)
			if err != nil {
				return keystore.Moved{}, s.fail("readdress", err)
			}
			if !r.found && tokens == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_keys WHERE id = ?`, r.id); err != nil {
				return keystore.Moved{}, s.fail("readdress", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_receipts (id, kek_id, key_ids, erased_us, reason, tokens) VALUES (?, ?, ?, ?, ?, ?)`,
				m.To, r.rec.KEKID, formatKeyIDs(r.rec.KeyIDs), now.UnixMicro(), t.Reason, tokens); err != nil {
				return keystore.Moved{}, s.fail("readdress", err)
			}
			if r.found {
				out.Erased = append(out.Erased, r.rec)
			}
		}
		out.Tombstoned, out.ErasedAt, out.Reason = true, t.ErasedAt, t.Reason
	} else {
		if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_keys WHERE id = ?`, m.From); err != nil {
			return keystore.Moved{}, s.fail("readdress", err)
		}
		now := s.clock()
		if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_keys (`+recordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.To, m.Record.KEKID, m.Record.Wrapped, formatKeyIDs(m.Record.KeyIDs), fromRec.Version+1, fromRec.Incarnation,
			micros(fromRec.Created), now.UnixMicro(), micros(fromRec.RetainUntil)); err != nil {
			return keystore.Moved{}, s.fail("readdress", err)
		}
		if err := moveOwnerTokens(ctx, tx, m.From, m.To); err != nil {
			return keystore.Moved{}, s.fail("readdress", err)
		}
		if out.Record, err = getTx(ctx, tx, m.To); err != nil {
			return keystore.Moved{}, s.fail("readdress", err)
		}
		out.Moved = true
	}
	if err := tx.Commit(); err != nil {
		return keystore.Moved{}, s.fail("readdress", err)
	}
	// The old wrapped keyset's pages: as after a deletion (see delete).
	s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return out, nil
}

func tombstoneTx(ctx context.Context, q queryer, id string) (keystore.Tombstone, bool, error) {
	var erased int64
	var reason string
	err := q.QueryRowContext(ctx, `SELECT erased_us, reason FROM fieldcrypt_tombstones WHERE id = ?`, id).Scan(&erased, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return keystore.Tombstone{}, false, nil
	} else if err != nil {
		return keystore.Tombstone{}, false, err
	}
	return keystore.Tombstone{ID: id, ErasedAt: time.UnixMicro(erased).UTC(), Reason: reason}, true, nil
}

func findTx(ctx context.Context, q queryer, id string) (keystore.Record, bool, error) {
	rec, err := getTx(ctx, q, id)
	if errors.Is(err, sql.ErrNoRows) {
		return keystore.Record{}, false, nil
	}
	return rec, err == nil, err
}
