package pii

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// SetRetention sets when subject's keys are to be erased by Expire; the
// zero time removes the deadline. It fails with ErrKeyNotFound if the
// subject has no keys yet, and ErrForgotten if they were erased.
func (p *Protector) SetRetention(ctx context.Context, subject string, until time.Time) error {
	if subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	id, err := p.ring.recordID(subject)
	if err != nil {
		return err
	}
	const attempts = 5
	for range attempts {
		rec, err := p.ring.store.Get(ctx, id)
		switch {
		case errors.Is(err, keystore.ErrTombstoned):
			return ErrForgotten
		case errors.Is(err, keystore.ErrNotFound):
			return ErrKeyNotFound
		case err != nil:
			return fmt.Errorf("pii: set retention: %w", err)
		}
		rec.RetainUntil = until
		_, err = p.ring.store.Update(ctx, rec)
		if errors.Is(err, keystore.ErrConflict) {
			continue
		}
		if errors.Is(err, keystore.ErrTombstoned) {
			return ErrForgotten
		}
		if err != nil {
			return fmt.Errorf("pii: set retention: %w", err)
		}
		return nil
	}
	return fmt.Errorf("pii: set retention: the key record kept changing during %d attempts", attempts)
}

// Expire erases every subject whose retention deadline is not after now,
// as Forget would, with the reason "retention". It works in batches of the
// Protector's batch size and calls progress (if not nil) with the running
// total after each batch. It returns the receipts of what it erased; on
// error, those of what it erased before the error.
//
// Expire needs only the key store, not the subjects' identifiers: it works
// on the store's records directly, so an operator can run it from
// `fieldcrypt keys expire`.
func (p *Protector) Expire(ctx context.Context, now time.Time, progress func(erased int)) ([]Receipt, error) {
	return expire(ctx, p.ring.store, now, p.ring.batchSize, progress, func(id string) { p.ring.cache.markErased("", id, true) })
}

// expire is Expire on a bare store; onErase is told each erased record ID.
func expire(ctx context.Context, store keystore.Store, now time.Time, batch int, progress func(int), onErase func(id string)) ([]Receipt, error) {
	var out []Receipt
	for {
		recs, err := store.ScanExpired(ctx, now, batch)
		if err != nil {
			return out, fmt.Errorf("pii: expire: %w", err)
		}
		if len(recs) == 0 {
			return out, nil
		}
		for _, rec := range recs {
			if rec.ID == globalRecordID {
				continue // never expires (and never has a deadline)
			}
			at := now.UTC().Truncate(time.Microsecond)
			d, err := store.Delete(ctx, keystore.Tombstone{ID: rec.ID, ErasedAt: at, Reason: "retention"})
			removed, found := d.Removed, d.Found
			if err != nil {
				return out, fmt.Errorf("pii: expire: %w", err)
			}
			if onErase != nil {
				onErase(rec.ID)
			}
			if found {
				out = append(out, Receipt{Subject: rec.ID, KeyIDs: removed.KeyIDs, KEKID: removed.KEKID, ErasedAt: at, Reason: "retention"})
			}
		}
		if progress != nil {
			progress(len(out))
		}
	}
}

// ExpireStore erases every subject of store whose retention deadline is
// not after now, without a Protector (for operator tools): see Expire.
// Running Protectors learn of the erasures as they learn of any other.
func ExpireStore(ctx context.Context, store keystore.Store, now time.Time, batch int, progress func(erased int)) ([]Receipt, error) {
	if batch < 1 {
		batch = DefaultBatchSize
	}
	return expire(ctx, store, now, batch, progress, nil)
}

// Erasure is what the key store knows of one subject's erasures.
type Erasure struct {
	// Erased: the subject is erased now (a tombstone stands).
	Erased bool
	// ErasedAt is the time of the standing tombstone.
	ErasedAt time.Time
	// Receipts lists every erasure of the subject, oldest first (more than
	// one if they were readmitted and erased again).
	Receipts []Receipt
}

// ErasureStatus answers whether subject was erased, and when, from the key
// store: it recomputes the keyed hash the store knows the subject by, so
// the store never needs to hold the identifier.
func (p *Protector) ErasureStatus(ctx context.Context, subject string) (Erasure, error) {
	if subject == "" {
		return Erasure{}, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	id, err := p.ring.recordID(subject)
	if err != nil {
		return Erasure{}, err
	}
	var e Erasure
	ts, err := p.ring.store.GetTombstone(ctx, id)
	switch {
	case err == nil:
		e.Erased, e.ErasedAt = true, ts.ErasedAt
	case !errors.Is(err, keystore.ErrNotFound):
		return Erasure{}, fmt.Errorf("pii: erasure status: %w", err)
	}
	after := int64(0)
	for {
		rs, err := p.ring.store.Receipts(ctx, keystore.ReceiptQuery{ID: id, After: after, Limit: 100})
		if err != nil {
			return Erasure{}, fmt.Errorf("pii: erasure status: %w", err)
		}
		for _, r := range rs {
			e.Receipts = append(e.Receipts, Receipt{Subject: r.ID, KeyIDs: r.KeyIDs, KEKID: r.KEKID, ErasedAt: r.ErasedAt, Reason: r.Reason})
			after = r.Seq
		}
		if len(rs) < 100 {
			return e, nil
		}
	}
}
