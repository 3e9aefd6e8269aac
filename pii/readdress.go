package pii

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Recovering from a leak of the addressing key.
//
// The addressing key turns a subject identifier into its key store record
// ID and authenticates tombstone exports. Whoever holds it can test guessed
// identifiers (emails are guessable) against the store's record IDs and
// tombstones: who is a customer, who was erased. The recovery:
//
//  1. RotateAddressingKey adds a new generation to the addressing chain.
//     From then on every Protector on the store (those already running
//     notice on their next key miss, Forget or Readmit) creates new keys
//     and tombstones at the new addresses, and looks a subject up at every
//     live address, newest first, so Seal, Open and Forget keep working.
//  2. ReaddressAll moves every record and tombstone to its newest address
//     (resumable: run it again after an interruption).
//  3. RetireAddressingKeys, once nothing is left at an older address, ends
//     the migration: lookups use the newest address only.
//
// An address of generation g is computed from the one of generation g-1,
// so the older keys stay in the global keys: they are links of the chain.
// What protects the store afterwards is that the newest key did not leak.

// ErrReaddressUnsupported is returned when the key store cannot move
// records (it does not implement keystore.Readdresser).
var ErrReaddressUnsupported = errors.New("pii: the key store cannot re-address records")

// readdress moves one ID's record and tombstone (keystore.Readdresser).
func (r *keyring) readdress(ctx context.Context, m keystore.Move) (keystore.Moved, error) {
	rd, ok := r.store.(keystore.Readdresser)
	if !ok {
		return keystore.Moved{}, ErrReaddressUnsupported
	}
	return rd.Readdress(ctx, m)
}

// AddressingState describes the addressing chain of a store.
type AddressingState struct {
	// Newest is the generation new keys and tombstones are written at (0:
	// the addressing key was never rotated).
	Newest int
	// Live is the oldest generation lookups still try; Live < Newest while
	// a re-addressing is in progress.
	Live int
}

// Addressing reports the addressing chain this Protector uses.
func (p *Protector) Addressing() AddressingState {
	a := p.ring.addr.Load()
	return AddressingState{Newest: a.newest(), Live: a.live}
}

// RotateAddressingKey adds a new generation to the addressing chain, with a
// fresh key, and returns the new state. It is the first step of the
// recovery from a leak of the addressing key (see ReaddressAll). Records
// stay where they are until ReaddressAll moves them; meanwhile every
// Protector of this release looks subjects up at every live address.
// Tombstone exports made before fail to verify afterwards (they are
// authenticated under the newest key): export again.
//
// Every process using the store must run a release that knows the
// addressing chain before the rotation: older releases refuse the global
// keys once they are rotated, but one already running keeps the old
// addresses until restarted.
func (p *Protector) RotateAddressingKey(ctx context.Context) (AddressingState, error) {
	if _, ok := p.ring.store.(keystore.Readdresser); !ok {
		return AddressingState{}, ErrReaddressUnsupported
	}
	err := p.rewriteID(ctx, "", globalRecordID, "rotate addressing key", func(b *subjectkey.Bundle) (bool, error) {
		_, err := b.RotateAddressKey()
		return true, err
	})
	if err != nil {
		return AddressingState{}, err
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return AddressingState{}, err
	}
	return p.Addressing(), nil
}

// ReaddressOptions configure ReaddressAll.
type ReaddressOptions struct {
	// BatchSize is how many records or tombstones are read per store call
	// (default: the Protector's batch size).
	BatchSize int
	// DryRun counts what would be moved, and moves nothing.
	DryRun bool
	// Progress, if not nil, is called after each batch with the running
	// totals.
	Progress func(ReaddressReport)
}

// ReaddressReport counts what ReaddressAll did.
type ReaddressReport struct {
	Records    int // records moved to their newest address
	Tombstones int // tombstones moved
	Rights     int // legal holds and consent of subjects with no keys, moved
	Erased     int // records erased because their subject's tombstone stood at another address
	Current    int // records and tombstones already at their newest address
	Skipped    int // IDs that are not subject addresses (left alone)
	// Conflicts counts records that could not be moved because their
	// newest address already holds a record: the subject has two keys (a
	// process that did not know of the rotation created one). They stay
	// at their old address; RetireAddressingKeys refuses until they are
	// resolved.
	Conflicts int
	// Remaining counts what a final scan still found at older addresses
	// (0 when the re-addressing is complete).
	Remaining int
}

// ReaddressAll moves every record and tombstone of the store to its newest
// address, without knowing any subject: each new address is computed from
// the old one. Each move is one store step (keystore.Readdresser), which
// re-wraps the record's keys for the new ID (the KEK binds every wrap to
// its record ID), so an interruption leaves every record at one address or
// the other, and running ReaddressAll again finishes the work. Seal, Open
// and Forget keep working meanwhile, in every process.
//
// Erasure receipts are not moved: they are append-only, and receipts made
// before the rotation keep their old address (ErasureStatus still finds
// them). The report's Remaining is 0 when nothing is left at an older
// address; then call RetireAddressingKeys.
func (p *Protector) ReaddressAll(ctx context.Context, opts ReaddressOptions) (ReaddressReport, error) {
	var rep ReaddressReport
	if _, ok := p.ring.store.(keystore.Readdresser); !ok {
		return rep, ErrReaddressUnsupported
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return rep, err
	}
	a := p.ring.addr.Load()
	batch := opts.BatchSize
	if batch < 1 {
		batch = p.ring.batchSize
	}
	report := func() {
		if opts.Progress != nil {
			opts.Progress(rep)
		}
	}
	// Records.
	for after := ""; ; {
		recs, err := p.ring.store.Scan(ctx, after, batch)
		if err != nil {
			return rep, fmt.Errorf("pii: readdress: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			after = rec.ID
			if err := p.readdressRecord(ctx, a, rec, opts.DryRun, &rep); err != nil {
				return rep, err
			}
		}
		report()
	}
	// Tombstones (those of subjects erased before the rotation, or at an
	// older address by Expire meanwhile).
	for after := ""; ; {
		ts, err := p.ring.store.Tombstones(ctx, after, batch)
		if err != nil {
			return rep, fmt.Errorf("pii: readdress: %w", err)
		}
		if len(ts) == 0 {
			break
		}
		for _, t := range ts {
			after = t.ID
			if err := p.readdressTombstone(ctx, a, t.ID, opts.DryRun, &rep); err != nil {
				return rep, err
			}
		}
		report()
	}
	// Holds and consent of subjects with no record or tombstone (a hold
	// can precede data): those with keys moved with them above.
	n, err := p.readdressRights(ctx, a, batch, opts.DryRun)
	if err != nil {
		return rep, err
	}
	rep.Rights += n
	remaining, err := p.remaining(ctx, a, batch)
	if err != nil {
		return rep, err
	}
	rep.Remaining = remaining
	report()
	return rep, nil
}

// readdressRecord moves one record to its newest address.
func (p *Protector) readdressRecord(ctx context.Context, a *addressing, rec keystore.Record, dry bool, rep *ReaddressReport) error {
	g, ok := Generation(rec.ID)
	switch {
	case !ok:
		if rec.ID != globalRecordID {
			rep.Skipped++
		}
		return nil
	case g >= a.newest():
		rep.Current++
		return nil
	}
	to, err := a.forward(rec.ID, g)
	if err != nil {
		return err
	}
	if dry {
		rep.Records++
		return nil
	}
	const attempts = 4
	for range attempts {
		moved, err := p.moveRecord(ctx, rec, to)
		switch {
		case err == nil:
			if moved.Moved {
				rep.Records++
			}
			rep.Erased += len(moved.Erased)
			return nil
		case errors.Is(err, keystore.ErrTombstoned):
			// Erased (at this address) since the scan: move the tombstone.
			return p.readdressTombstone(ctx, a, rec.ID, false, rep)
		case errors.Is(err, keystore.ErrNotFound):
			return nil // moved or erased by someone else since the scan
		case errors.Is(err, keystore.ErrExists):
			rep.Conflicts++
			return nil
		case errors.Is(err, keystore.ErrConflict):
			// Updated since we read it: read it again.
			if rec, err = p.ring.store.Get(ctx, rec.ID); err != nil && !errors.Is(err, keystore.ErrTombstoned) {
				if errors.Is(err, keystore.ErrNotFound) {
					return nil
				}
				return fmt.Errorf("pii: readdress: %w", err)
			} else if err != nil {
				return p.readdressTombstone(ctx, a, rec.ID, false, rep)
			}
		default:
			return err
		}
	}
	return fmt.Errorf("pii: readdress: a record kept changing during %d attempts", attempts)
}

// moveRecord re-wraps rec's keys for the ID to and moves it there.
func (p *Protector) moveRecord(ctx context.Context, rec keystore.Record, to string) (keystore.Moved, error) {
	raw, err := p.ring.kek.Decrypt(ctx, rec.Wrapped, subjectkey.WrapAssociatedData(rec.ID))
	if err != nil {
		return keystore.Moved{}, p.ring.unwrapError(rec, err)
	}
	wrapped, err := p.ring.kek.Encrypt(ctx, raw, subjectkey.WrapAssociatedData(to))
	subjectkey.Zero(raw)
	if err != nil {
		return keystore.Moved{}, fmt.Errorf("pii: readdress: wrap: %w", err)
	}
	next := rec.Clone()
	next.Wrapped, next.KEKID = wrapped, p.ring.kek.ID()
	moved, err := p.ring.readdress(ctx, keystore.Move{From: rec.ID, To: to, Record: &next})
	if err != nil && !errors.Is(err, keystore.ErrNotFound) && !errors.Is(err, keystore.ErrExists) &&
		!errors.Is(err, keystore.ErrConflict) && !errors.Is(err, keystore.ErrTombstoned) {
		return moved, fmt.Errorf("pii: readdress: %w", err)
	}
	if err == nil {
		for _, e := range moved.Erased {
			p.ring.cache.markErased("", e.ID, true)
		}
	}
	return moved, err
}

// readdressTombstone moves the tombstone at id to its newest address.
func (p *Protector) readdressTombstone(ctx context.Context, a *addressing, id string, dry bool, rep *ReaddressReport) error {
	g, ok := Generation(id)
	switch {
	case !ok:
		rep.Skipped++
		return nil
	case g >= a.newest():
		rep.Current++
		return nil
	}
	to, err := a.forward(id, g)
	if err != nil {
		return err
	}
	if dry {
		rep.Tombstones++
		return nil
	}
	moved, err := p.ring.readdress(ctx, keystore.Move{From: id, To: to})
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("pii: readdress: %w", err)
	}
	rep.Tombstones++
	rep.Erased += len(moved.Erased)
	for _, e := range moved.Erased {
		p.ring.cache.markErased("", e.ID, true)
	}
	return nil
}

// remaining counts the records, tombstones, holds and consent at an
// address older than a's newest generation.
func (p *Protector) remaining(ctx context.Context, a *addressing, batch int) (int, error) {
	n, err := p.remainingRights(ctx, a, batch)
	if err != nil {
		return 0, err
	}
	old := func(id string) bool {
		g, ok := Generation(id)
		return ok && g < a.newest()
	}
	for after := ""; ; {
		recs, err := p.ring.store.Scan(ctx, after, batch)
		if err != nil {
			return 0, fmt.Errorf("pii: readdress: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			after = rec.ID
			if old(rec.ID) {
				n++
			}
		}
	}
	for after := ""; ; {
		ts, err := p.ring.store.Tombstones(ctx, after, batch)
		if err != nil {
			return 0, fmt.Errorf("pii: readdress: %w", err)
		}
		if len(ts) == 0 {
			break
		}
		for _, t := range ts {
			after = t.ID
			if old(t.ID) {
				n++
			}
		}
	}
	return n, nil
}

// ErrReaddressIncomplete is returned by RetireAddressingKeys while records
// or tombstones are left at an older address.
var ErrReaddressIncomplete = errors.New("pii: records or tombstones are left at an older address")

// RetireAddressingKeys ends a re-addressing: after checking that no record
// or tombstone is left at an older address (ErrReaddressIncomplete
// otherwise), it makes the newest generation the only one lookups try.
// Processes already running notice on their next key miss, Forget or
// Readmit; until then they also look at older addresses, where nothing
// is. The older keys stay in the global keys as links of the chain (an
// address is computed from the previous generation's), but no record,
// tombstone or lookup uses an older address again.
func (p *Protector) RetireAddressingKeys(ctx context.Context) (AddressingState, error) {
	if _, err := p.ring.refresh(ctx); err != nil {
		return AddressingState{}, err
	}
	a := p.ring.addr.Load()
	if a.live == a.newest() {
		return p.Addressing(), nil
	}
	n, err := p.remaining(ctx, a, p.ring.batchSize)
	if err != nil {
		return AddressingState{}, err
	}
	if n > 0 {
		return AddressingState{}, fmt.Errorf("%w (%d; run ReaddressAll)", ErrReaddressIncomplete, n)
	}
	err = p.rewriteID(ctx, "", globalRecordID, "retire addressing keys", func(b *subjectkey.Bundle) (bool, error) {
		newest, _ := b.AddressGenerations()
		if newest != a.newest() {
			return false, fmt.Errorf("%w (the addressing key was rotated again meanwhile)", ErrReaddressIncomplete)
		}
		return b.RetireAddressGenerations(), nil
	})
	if err != nil {
		return AddressingState{}, err
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return AddressingState{}, err
	}
	return p.Addressing(), nil
}

// erasureStatus is ErasureStatus across the addressing chain: the standing
// tombstone at any live address, and the receipts under every address the
// subject ever had (receipts keep the address they were written under).
func (p *Protector) erasureStatus(ctx context.Context, subject string) (Erasure, error) {
	if subject == "" {
		return Erasure{}, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return Erasure{}, fmt.Errorf("pii: erasure status: %w", err)
	}
	a := p.ring.addr.Load()
	all, err := a.ids(subject, true)
	if err != nil {
		return Erasure{}, err
	}
	var e Erasure
	for _, id := range all[:a.newest()-a.live+1] {
		ts, err := p.ring.store.GetTombstone(ctx, id)
		if err == nil {
			e.Erased, e.ErasedAt = true, ts.ErasedAt
			break
		}
		if !errors.Is(err, keystore.ErrNotFound) {
			return Erasure{}, fmt.Errorf("pii: erasure status: %w", err)
		}
	}
	var rs []keystore.Receipt
	for _, id := range all {
		for after := int64(0); ; {
			page, err := p.ring.store.Receipts(ctx, keystore.ReceiptQuery{ID: id, After: after, Limit: 100})
			if err != nil {
				return Erasure{}, fmt.Errorf("pii: erasure status: %w", err)
			}
			rs = append(rs, page...)
			if len(page) < 100 {
				break
			}
			after = page[len(page)-1].Seq
		}
	}
	// Oldest first, across addresses.
	slices.SortFunc(rs, func(x, y keystore.Receipt) int { return cmp.Compare(x.Seq, y.Seq) })
	for _, r := range rs {
		e.Receipts = append(e.Receipts, Receipt{Subject: r.ID, KeyIDs: r.KeyIDs, KEKID: r.KEKID, ErasedAt: r.ErasedAt, Reason: r.Reason})
	}
	return e, nil
}
