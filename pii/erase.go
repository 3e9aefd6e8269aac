package pii

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Receipt is the proof of one erasure. The subject appears only as a keyed
// hash, which can be recomputed from the subject identifier by whoever
// holds the global keys: the hash is pseudonymous personal data (GDPR Art.
// 4(5)), not anonymous, and must be protected as such. Receipts keep the
// address they were made under: one made before RotateAddressingKey holds
// the old address, which a leaked old addressing key can still link to a
// guessed identifier. While a re-addressing is in progress, one Forget may
// write two receipts (the tombstone's at the newest address, and the
// destroyed keys' when they were still at an older one).
type Receipt struct {
	// Seq is the store's sequence number of the receipt (keystore.Receipt),
	// which an erasure request's completion names; 0 when the erasure
	// wrote none (the subject was erased before, and nothing came back).
	Seq      int64
	Subject  string    // keyed hash of the subject identifier (its key store ID at the time)
	KeyIDs   []uint32  // the Tink key ids destroyed
	KEKID    string    // the KEK that had wrapped them
	ErasedAt time.Time // when the tombstone was written
	Reason   string    // "request"
	// AlreadyErased is set when the subject had been forgotten before (a
	// tombstone stood): ErasedAt and Reason are then the first erasure's.
	// Keys are listed only if a restore had brought some back, which this
	// call destroyed again.
	AlreadyErased bool
	// Tokens counts the subject's vaulted tokens (vault.go) removed with
	// the keys, in the same erasing step.
	Tokens int64
}

// Forget erases a subject: it deletes their keys from the store and writes
// a tombstone, so that everything ever sealed for them can no longer be
// opened, and Seal for them fails with ErrForgotten until Readmit. Forget is
// idempotent. In this process the key is unusable as soon as Forget returns.
// Other processes sharing the store stop using it when the store tells them
// (keystore/postgres: at once, by LISTEN/NOTIFY) or, for stores that cannot,
// when their cache entry expires (see WithKeyCache).
//
// While the store is being re-addressed (RotateAddressingKey), Forget
// writes the tombstone at the subject's newest address and erases whatever
// is left of the subject at every older one, in the same call.
//
// A subject under legal hold (PlaceHold) is not erased: Forget fails with a
// *LegalHoldError (errors.Is(err, ErrLegalHold)) and changes nothing. The
// key store checks the hold in the erasing step itself. To record the
// request and its outcome, use RequestErasure.
func (p *Protector) Forget(ctx context.Context, subject string) (_ Receipt, err error) {
	defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpForget}, subject, &err) // audit.go
	if subject == "" {
		return Receipt{}, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	// Another process may have rotated the addressing key: erase under
	// the addresses the store uses now.
	if _, err := p.ring.refresh(ctx); err != nil {
		return Receipt{}, fmt.Errorf("pii: forget: %w", err)
	}
	ids, err := p.ring.addresses(subject)
	if err != nil {
		return Receipt{}, err
	}
	id := ids[0]
	// A hold at an older address (placed before a rotation of the
	// addressing key) is refused here, before anything is touched; one at
	// the newest address is refused again by the store's Delete, in the
	// erasing step.
	if err := p.checkHolds(ctx, ids); err != nil {
		return Receipt{}, err
	}
	at := p.now().UTC().Truncate(time.Microsecond)
	// Drop the key and refuse every load in flight before the store call,
	// and again after it (a load may have begun meanwhile): whatever the
	// store answers, this process stops using the key now. An error may
	// come after a commit, so it leaves the key dropped; the next use reads
	// the store's answer.
	markAll := func(confirmed bool) {
		for _, id := range ids {
			p.ring.cache.markErased(subject, id, confirmed)
		}
	}
	markAll(false)
	d, err := p.ring.store.Delete(ctx, keystore.Tombstone{ID: id, ErasedAt: at, Reason: "request"})
	if errors.Is(err, keystore.ErrHeld) {
		// Held meanwhile: nothing was erased; let loads go on.
		for _, id := range ids {
			p.ring.cache.markChanged(subject, id, false)
		}
		return Receipt{}, holdError(err)
	}
	if err != nil {
		markAll(false)
		return Receipt{}, fmt.Errorf("pii: forget: %w", err)
	}
	r := Receipt{Seq: d.ReceiptSeq, Subject: id, ErasedAt: at, Reason: "request"}
	if d.Found {
		r.KeyIDs, r.KEKID = d.Removed.KeyIDs, d.Removed.KEKID
	}
	r.Tokens = d.Tokens
	// While the store is being re-addressed, the subject's record or
	// tombstone may still be at an older address: merge each into the
	// tombstone just written, which erases any record there.
	for _, old := range ids[1:] {
		moved, err := p.ring.readdress(ctx, keystore.Move{From: old, To: id})
		if errors.Is(err, keystore.ErrNotFound) {
			continue
		}
		if err != nil {
			markAll(false)
			return Receipt{}, fmt.Errorf("pii: forget: erase an older address: %w", holdError(err))
		}
		for _, rec := range moved.Erased {
			r.KeyIDs = append(r.KeyIDs, rec.KeyIDs...)
			r.KEKID = rec.KEKID
		}
	}
	markAll(true)
	p.ring.erased() // observe.go
	if d.AlreadyTombstoned {
		r.AlreadyErased = true
		if ts, err := p.ring.store.GetTombstone(ctx, id); err == nil {
			r.ErasedAt, r.Reason = ts.ErasedAt, ts.Reason
		}
	}
	return r, nil
}

// Readmit lifts the tombstone of a forgotten subject, so that Seal may
// create a new key for them. It restores nothing: what was sealed under the
// old key stays unreadable. Use it only when the person is genuinely back
// (they signed up again), never to undo an erasure.
func (p *Protector) Readmit(ctx context.Context, subject string) (err error) {
	defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpReadmit}, subject, &err) // audit.go
	if subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return fmt.Errorf("pii: readmit: %w", err)
	}
	ids, err := p.ring.addresses(subject)
	if err != nil {
		return err
	}
	// Every live address: a tombstone not yet re-addressed must go too.
	for _, id := range ids {
		err = p.ring.store.Readmit(ctx, id)
		// Whether or not the store call committed: drop any negative entry
		// and make loads in flight (which may hold the erased key, or a
		// stale "forgotten") load again. Never ErrForgotten for the TTL.
		p.ring.cache.markChanged(subject, id, true)
		if err != nil {
			return fmt.Errorf("pii: readmit: %w", err)
		}
	}
	return nil
}

// RotateSubjectKey adds a new encryption key for subject and makes it the
// one Seal uses; values sealed under older keys keep opening. It returns the
// new key's id. Deterministic fields keep their key (rotating it would break
// equality with values sealed before). Other processes pick up the new key
// within their key cache TTL.
//
// Every rotation makes the subject's key bundle larger (about 100 bytes).
// Before wrapping, the bundle's size is checked against what the KEK can
// wrap (see WithMaxBundleSize): past it, RotateSubjectKey fails with a
// *BundleSizeError and changes nothing. Prune retired keys with
// PruneSubjectKeys.
func (p *Protector) RotateSubjectKey(ctx context.Context, subject string) (uint32, error) {
	var newID uint32
	err := p.rewriteBundle(ctx, subject, "rotate", func(b *subjectkey.Bundle) (bool, error) {
		id, err := b.RotateAEAD()
		newID = id
		return true, err
	})
	return newID, err
}

// PruneSubjectKeys removes subject's retired encryption keys, keeping the
// keep newest (at least 1: the current one), and returns the ids of the
// keys it removed (none if there were at most keep).
//
// Pruning destroys keys: every value sealed for subject under a removed key
// can no longer be opened (ErrAuthentication), in any copy of the data.
// Re-seal such values first (Open, then Seal, and write the record back:
// Seal always uses the newest key), then prune. Deterministic fields and
// tokens are not affected: their keys are never rotated.
func (p *Protector) PruneSubjectKeys(ctx context.Context, subject string, keep int) ([]uint32, error) {
	if keep < 1 {
		return nil, fmt.Errorf("%w: PruneSubjectKeys must keep at least 1 key", ErrInvalidArgument)
	}
	var removed []uint32
	err := p.rewriteBundle(ctx, subject, "prune", func(b *subjectkey.Bundle) (bool, error) {
		ids, err := b.PruneAEAD(keep)
		removed = ids
		return len(ids) > 0, err
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// rewriteBundle applies change to subject's key bundle and stores the
// result (unless change reports nothing changed), retrying from a fresh read
// if another writer updated the record meanwhile.
func (p *Protector) rewriteBundle(ctx context.Context, subject, op string, change func(*subjectkey.Bundle) (bool, error)) (err error) {
	defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpRotate, Type: "subject", Detail: op}, subject, &err) // audit.go
	if subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	// While the store is being re-addressed the record may move between
	// our read and our write (the Update then finds nothing): look again.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		id, err := p.ring.locate(ctx, subject)
		if err != nil {
			return err
		}
		err = p.rewriteID(ctx, subject, id, op, change)
		if !errors.Is(err, ErrKeyNotFound) || attempt == attempts {
			return err
		}
		if ids, _ := p.ring.addresses(subject); len(ids) == 1 && ids[0] == id {
			return err
		}
	}
}

func (p *Protector) rewriteID(ctx context.Context, subject, id, op string, change func(*subjectkey.Bundle) (bool, error)) (err error) {
	if subject == "" { // the global keys; subjects' are audited by rewriteBundle
		defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpRotate, Type: "global", Detail: op}, "", &err) // audit.go
	}
	const attempts = 5
	for range attempts {
		err := p.rewriteOnce(ctx, id, op, change)
		if errors.Is(err, keystore.ErrConflict) {
			continue // someone else updated the record; start again from it
		}
		if err != nil {
			return err
		}
		if subject != "" {
			p.ring.cache.markChanged(subject, id, false)
		}
		return nil
	}
	return fmt.Errorf("pii: %s: the key record kept changing during %d attempts", op, attempts)
}

func (p *Protector) rewriteOnce(ctx context.Context, id, op string, change func(*subjectkey.Bundle) (bool, error)) error {
	rec, err := p.ring.store.Get(ctx, id)
	switch {
	case errors.Is(err, keystore.ErrTombstoned):
		return ErrForgotten
	case errors.Is(err, keystore.ErrNotFound):
		return ErrKeyNotFound
	case err != nil:
		return fmt.Errorf("pii: %s: %w", op, err)
	}
	raw, err := p.ring.kek.Decrypt(ctx, rec.Wrapped, subjectkey.WrapAssociatedData(id))
	if err != nil {
		return p.ring.unwrapError(rec, err)
	}
	bundle, err := subjectkey.Parse(raw)
	subjectkey.Zero(raw)
	if err != nil {
		return fmt.Errorf("pii: %s: %w", op, err)
	}
	changed, err := change(bundle)
	if err != nil || !changed {
		return err
	}
	raw, err = bundle.Marshal()
	if err != nil {
		return err
	}
	defer subjectkey.Zero(raw)
	if err := p.ring.checkSize(raw, bundle); err != nil {
		return err
	}
	wrapped, err := p.ring.kek.Encrypt(ctx, raw, subjectkey.WrapAssociatedData(id))
	if err != nil {
		return fmt.Errorf("pii: %s: wrap: %w", op, err)
	}
	// rec carries the Version and Incarnation it was read with: an Update
	// after an erasure and re-creation of the ID fails with ErrConflict.
	rec.Wrapped, rec.KEKID, rec.KeyIDs = wrapped, p.ring.kek.ID(), bundle.KeyIDs()
	if _, err := p.ring.store.Update(ctx, rec); err != nil {
		if errors.Is(err, keystore.ErrTombstoned) {
			return ErrForgotten
		}
		return fmt.Errorf("pii: %s: %w", op, err)
	}
	return nil
}
