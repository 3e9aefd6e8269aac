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
	const attempts = 5
	relocated := false
	for range attempts {
		// The record's current address: during a re-addressing it may be
		// an older one, and it may move between here and the Get (records
		// only move forward, so locating again once settles it).
		id, err := p.ring.locate(ctx, subject)
		if err != nil {
			return err
		}
		rec, err := p.ring.store.Get(ctx, id)
		switch {
		case errors.Is(err, keystore.ErrTombstoned):
			return ErrForgotten
		case errors.Is(err, keystore.ErrNotFound) && !relocated:
			relocated = true
			continue
		case errors.Is(err, keystore.ErrNotFound):
			return ErrKeyNotFound
		case err != nil:
			return fmt.Errorf("pii: set retention: %w", err)
		}
		rec.RetainUntil = until
		_, err = p.ring.store.Update(ctx, rec)
		if errors.Is(err, keystore.ErrConflict) || errors.Is(err, keystore.ErrNotFound) { // changed or moved meanwhile
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
// error, those of what it erased before the error. Subjects under legal
// hold are skipped, never erased and never an error: Sweep reports them.
//
// Expire needs only the key store, not the subjects' identifiers: it works
// on the store's records directly, so an operator can run it from
// `fieldcrypt keys expire`.
func (p *Protector) Expire(ctx context.Context, now time.Time, progress func(erased int)) ([]Receipt, error) {
	rep, err := p.Sweep(ctx, now, progress)
	return rep.Receipts, err
}

// SweepReport is what a retention sweep did.
type SweepReport struct {
	// Receipts of the subjects erased.
	Receipts []Receipt
	// Held lists the expired records left alone because their subject is
	// under legal hold.
	Held []HeldRecord
}

// HeldRecord is an expired record a sweep skipped because of a legal hold.
type HeldRecord struct {
	Subject   string // the record ID (a keyed hash of the subject)
	Reference string // the oldest standing hold's reference
}

// Sweep is Expire, reporting the subjects it skipped because of a legal
// hold as well as those it erased.
func (p *Protector) Sweep(ctx context.Context, now time.Time, progress func(erased int)) (rep SweepReport, err error) {
	defer p.auditSweep(ctx, &rep, &err) // audit.go
	return expire(ctx, p.ring.store, now, p.ring.batchSize, progress, func(id string) { p.ring.cache.markErased("", id, true); p.ring.erased() })
}

// expire is Expire on a bare store; onErase is told each erased record ID.
//
// Each record is erased by DeleteExpired, which re-checks its deadline in
// the deleting step: a retention extended (or lifted) after the scan is
// respected, and the record skipped. Skipped records, and the global
// record (never erased, whatever deadline it carries), are remembered for
// the rest of the run and scanned past, so every round either erases or
// skips a record it has not seen before, or ends the run.
func expire(ctx context.Context, store keystore.Store, now time.Time, batch int, progress func(int), onErase func(id string)) (SweepReport, error) {
	var rep SweepReport
	skipped := map[string]bool{}
	at := now.UTC().Truncate(time.Microsecond)
	for {
		recs, err := store.ScanExpired(ctx, now, batch+len(skipped))
		if err != nil {
			return rep, fmt.Errorf("pii: expire: %w", err)
		}
		fresh := false
		for _, rec := range recs {
			if skipped[rec.ID] {
				continue
			}
			fresh = true
			if rec.ID == globalRecordID {
				skipped[rec.ID] = true // never expires
				continue
			}
			d, err := store.DeleteExpired(ctx, keystore.Tombstone{ID: rec.ID, ErasedAt: at, Reason: "retention"}, now)
			var held *keystore.HoldError
			switch {
			case errors.As(err, &held):
				skipped[rec.ID] = true // under legal hold: never erased
				rep.Held = append(rep.Held, HeldRecord{Subject: rec.ID, Reference: held.Reference})
				continue
			case errors.Is(err, keystore.ErrConflict):
				skipped[rec.ID] = true // retention changed since the scan
				continue
			case errors.Is(err, keystore.ErrNotFound), errors.Is(err, keystore.ErrTombstoned):
				continue // erased meanwhile by someone else
			case err != nil:
				return rep, fmt.Errorf("pii: expire: %w", err)
			}
			if onErase != nil {
				onErase(rec.ID)
			}
			if d.Found {
				rep.Receipts = append(rep.Receipts, Receipt{Seq: d.ReceiptSeq, Subject: rec.ID, KeyIDs: d.Removed.KeyIDs, KEKID: d.Removed.KEKID, ErasedAt: at, Reason: "retention"})
			}
		}
		if !fresh {
			return rep, nil
		}
		if progress != nil {
			progress(len(rep.Receipts))
		}
	}
}

// ExpireStore erases every subject of store whose retention deadline is
// not after now, without a Protector (for operator tools): see Expire.
// Running Protectors learn of the erasures as they learn of any other.
func ExpireStore(ctx context.Context, store keystore.Store, now time.Time, batch int, progress func(erased int)) ([]Receipt, error) {
	rep, err := SweepStore(ctx, store, now, batch, progress)
	return rep.Receipts, err
}

// SweepStore is ExpireStore, reporting the subjects it skipped because of
// a legal hold as well as those it erased.
func SweepStore(ctx context.Context, store keystore.Store, now time.Time, batch int, progress func(erased int)) (SweepReport, error) {
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
	// Every address the subject had since the addressing key was last
	// rotated: a tombstone not yet moved, and receipts written before the
	// rotation, are found too (see RotateAddressingKey).
	return p.erasureStatus(ctx, subject)
}
