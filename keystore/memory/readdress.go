package memory

import (
	"context"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.Readdresser = (*Store)(nil)

// Readdress implements keystore.Readdresser.
func (s *Store) Readdress(ctx context.Context, m keystore.Move) (keystore.Moved, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Moved{}, err
	}
	if err := keystore.CheckMove(m); err != nil {
		return keystore.Moved{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fromT, fromTomb := s.tombstones[m.From]
	fromRec, fromFound := s.records[m.From]
	toT, toTomb := s.tombstones[m.To]
	toRec, toFound := s.records[m.To]
	fromRights := len(s.holds[m.From]) > 0 || len(s.consent[m.From]) > 0
	if !fromTomb && !fromFound && !fromRights {
		return keystore.Moved{}, keystore.ErrNotFound
	}
	if fromTomb || toTomb {
		if err := s.heldLocked(m.From); err != nil {
			return keystore.Moved{}, err
		}
		if err := s.heldLocked(m.To); err != nil {
			return keystore.Moved{}, err
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
	out.Rights = s.moveRightsLocked(m.From, m.To)
	if !fromTomb && !fromFound {
		return out, nil // rights only
	}
	if fromTomb || toTomb {
		t := toT
		if !toTomb {
			t = fromT
			t.ID = m.To
			s.tombstones[m.To] = t
		}
		delete(s.tombstones, m.From)
		now := s.clock()
		for _, r := range []struct {
			rec   keystore.Record
			found bool
			id    string
		}{{fromRec, fromFound, m.From}, {toRec, toFound, m.To}} {
			n := s.tokens.removeOwner(r.id)
			if !r.found && n == 0 {
				continue
			}
			delete(s.records, r.id)
			s.receipts = append(s.receipts, keystore.Receipt{
				Seq: int64(len(s.receipts) + 1), ID: m.To, KEKID: r.rec.KEKID, KeyIDs: r.rec.Clone().KeyIDs,
				ErasedAt: now, Reason: t.Reason, Tokens: n,
			})
			if r.found {
				out.Erased = append(out.Erased, r.rec.Clone())
			}
		}
		out.Tombstoned, out.ErasedAt, out.Reason = true, t.ErasedAt, t.Reason
		return out, nil
	}
	rec := fromRec.Clone()
	rec.ID, rec.KEKID = m.To, m.Record.KEKID
	rec.Wrapped = append([]byte(nil), m.Record.Wrapped...)
	rec.KeyIDs = append([]uint32(nil), m.Record.KeyIDs...)
	rec.Version++
	rec.Updated = s.clock()
	delete(s.records, m.From)
	s.records[m.To] = rec
	s.tokens.moveOwner(m.From, m.To)
	out.Record, out.Moved = rec.Clone(), true
	return out, nil
}
