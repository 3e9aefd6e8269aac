package pii

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Legal holds.
//
// A subject under legal hold cannot be erased: Forget fails with a
// *LegalHoldError (errors.Is(err, ErrLegalHold)) and erases nothing, and
// Expire skips them (Sweep reports them as held). The key store enforces it
// in the erasing step itself (keystore.Holder), so a hold placed by one
// process and an erasure by another resolve in one order. A hold is placed
// at every live address of the subject (see RotateAddressingKey), so it
// holds whichever address their keys are at, and it moves with them when
// they are re-addressed. A hold may precede the subject's data. Placing and
// lifting are recorded in an append-only history (who, when, reference);
// none of it holds the subject identifier or other personal data, provided
// references and actors are not personal data themselves.

// HoldInfo describes the placing or lifting of a hold: Reference names it
// (a case or ticket number, 1 to 128 printable ASCII characters, never
// personal data), By says who, At when (zero: now).
type HoldInfo = keystore.HoldInfo

// Hold is a hold standing on a subject; its ID is the subject's record ID
// (a keyed hash), never the identifier.
type Hold = keystore.Hold

// HoldEvent is an entry of the hold history.
type HoldEvent = keystore.HoldEvent

// Errors of the rights workflow.
var (
	// ErrLegalHold: the subject is under legal hold, and was not erased.
	// The error is a *LegalHoldError naming the hold.
	ErrLegalHold = errors.New("pii: subject under legal hold")

	// ErrNoHold: Release found no hold with that reference.
	ErrNoHold = errors.New("pii: no such hold")

	// ErrUnsupportedStore: the key store does not keep what the call needs
	// (legal holds, erasure requests or consent). The error is an
	// *UnsupportedStoreError.
	ErrUnsupportedStore = errors.New("pii: unsupported by this key store")
)

// LegalHoldError is the error of an erasure refused because of a legal
// hold. It names the oldest standing hold's reference, nothing else.
type LegalHoldError struct {
	Reference string
}

func (e *LegalHoldError) Error() string {
	return fmt.Sprintf("pii: subject under legal hold (reference %q): not erased", e.Reference)
}

// Unwrap returns ErrLegalHold.
func (e *LegalHoldError) Unwrap() error { return ErrLegalHold }

// UnsupportedStoreError says which interface the key store lacks.
type UnsupportedStoreError struct {
	Need string // "keystore.Holder", "keystore.RequestLog" or "keystore.ConsentStore"
}

func (e *UnsupportedStoreError) Error() string {
	return fmt.Sprintf("pii: the key store does not implement %s", e.Need)
}

// Unwrap returns ErrUnsupportedStore.
func (e *UnsupportedStoreError) Unwrap() error { return ErrUnsupportedStore }

// holdError maps a store's *keystore.HoldError to a *LegalHoldError, and
// leaves other errors as they are.
func holdError(err error) error {
	var he *keystore.HoldError
	if errors.As(err, &he) {
		return &LegalHoldError{Reference: he.Reference}
	}
	return err
}

func (p *Protector) holder() (keystore.Holder, error) {
	h, ok := p.ring.store.(keystore.Holder)
	if !ok {
		return nil, &UnsupportedStoreError{Need: "keystore.Holder"}
	}
	return h, nil
}

// rightsAddresses refreshes the addressing chain and returns subject's
// live addresses, newest first.
func (p *Protector) rightsAddresses(ctx context.Context, op, subject string) ([]string, error) {
	if subject == "" {
		return nil, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return nil, fmt.Errorf("pii: %s: %w", op, err)
	}
	return p.ring.addresses(subject)
}

// checkNotForgotten fails with ErrForgotten if a tombstone stands at any of
// ids.
func (p *Protector) checkNotForgotten(ctx context.Context, op string, ids []string) error {
	for _, id := range ids {
		_, err := p.ring.store.GetTombstone(ctx, id)
		if err == nil {
			return ErrForgotten
		}
		if !errors.Is(err, keystore.ErrNotFound) {
			return fmt.Errorf("pii: %s: %w", op, err)
		}
	}
	return nil
}

// PlaceHold puts subject under legal hold h, at every live address, and
// reports whether it placed it (false: a hold with that reference stood
// already). It fails with ErrForgotten for an erased subject (nothing is
// left to hold), with ErrInvalidArgument for a malformed reference or
// actor, and with ErrUnsupportedStore if the key store keeps no holds.
func (p *Protector) PlaceHold(ctx context.Context, subject string, h HoldInfo) (_ bool, err error) {
	defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpHold, Actor: h.By}, subject, &err) // audit.go
	store, err := p.holder()
	if err != nil {
		return false, err
	}
	if err := keystore.CheckHold("x", h); err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	ids, err := p.rightsAddresses(ctx, "hold", subject)
	if err != nil {
		return false, err
	}
	if err := p.checkNotForgotten(ctx, "hold", ids); err != nil {
		return false, err
	}
	if h.At.IsZero() {
		h.At = p.now()
	}
	placed := false
	// Oldest first: the newest address, where an erasure would write its
	// tombstone, is held last, once every older one is.
	for _, id := range slices.Backward(ids) {
		ok, err := store.Hold(ctx, id, h)
		if errors.Is(err, keystore.ErrTombstoned) {
			return placed, ErrForgotten
		}
		if err != nil {
			return placed, fmt.Errorf("pii: hold: %w", err)
		}
		placed = placed || ok
	}
	return placed, nil
}

// ReleaseHold lifts the legal hold with h.Reference from subject, at every
// live address. It fails with ErrNoHold if no such hold stands.
func (p *Protector) ReleaseHold(ctx context.Context, subject string, h HoldInfo) (err error) {
	defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpRelease, Actor: h.By}, subject, &err) // audit.go
	store, err := p.holder()
	if err != nil {
		return err
	}
	if err := keystore.CheckHold("x", h); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	ids, err := p.rightsAddresses(ctx, "release", subject)
	if err != nil {
		return err
	}
	if h.At.IsZero() {
		h.At = p.now()
	}
	released := false
	for _, id := range ids {
		err := store.Release(ctx, id, h)
		if errors.Is(err, keystore.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pii: release: %w", err)
		}
		released = true
	}
	if !released {
		return ErrNoHold
	}
	return nil
}

// Holds returns the legal holds standing on subject (at any live address,
// one per reference), oldest first.
func (p *Protector) Holds(ctx context.Context, subject string) ([]Hold, error) {
	store, err := p.holder()
	if err != nil {
		return nil, err
	}
	ids, err := p.rightsAddresses(ctx, "holds", subject)
	if err != nil {
		return nil, err
	}
	return holdsAt(ctx, store, ids)
}

func holdsAt(ctx context.Context, store keystore.Holder, ids []string) ([]Hold, error) {
	var out []Hold
	seen := map[string]bool{}
	for _, id := range ids {
		hs, err := store.Holds(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("pii: holds: %w", err)
		}
		for _, h := range hs {
			if !seen[h.Reference] {
				seen[h.Reference] = true
				out = append(out, h)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Hold) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Reference, b.Reference)
	})
	return out, nil
}

// HoldHistory returns every placing and lifting of a hold on subject,
// under every address they ever had, oldest first.
func (p *Protector) HoldHistory(ctx context.Context, subject string) ([]HoldEvent, error) {
	store, err := p.holder()
	if err != nil {
		return nil, err
	}
	all, err := p.allAddresses(ctx, "hold history", subject)
	if err != nil {
		return nil, err
	}
	var out []HoldEvent
	for _, id := range all {
		evs, err := pages(ctx, id, store.HoldHistory, func(e HoldEvent) int64 { return e.Seq })
		if err != nil {
			return nil, fmt.Errorf("pii: hold history: %w", err)
		}
		out = append(out, evs...)
	}
	slices.SortFunc(out, func(a, b HoldEvent) int { return compareSeq(a.Seq, b.Seq) })
	return out, nil
}

// checkHolds fails with a *LegalHoldError if a hold stands at any of ids
// (stores without holds: nil).
func (p *Protector) checkHolds(ctx context.Context, ids []string) error {
	store, ok := p.ring.store.(keystore.Holder)
	if !ok {
		return nil
	}
	hs, err := holdsAt(ctx, store, ids)
	if err != nil {
		return err
	}
	if len(hs) > 0 {
		return &LegalHoldError{Reference: hs[0].Reference}
	}
	return nil
}

// allAddresses returns every address subject ever had, newest first
// (histories keep the address they were written under).
func (p *Protector) allAddresses(ctx context.Context, op, subject string) ([]string, error) {
	if subject == "" {
		return nil, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	if _, err := p.ring.refresh(ctx); err != nil {
		return nil, fmt.Errorf("pii: %s: %w", op, err)
	}
	return p.ring.addr.Load().ids(subject, true)
}

// historyPage is the shape of the stores' history queries.
type historyPage[E any] func(ctx context.Context, q keystore.HistoryQuery) ([]E, error)

// pages reads every entry of a history for id.
func pages[E any](ctx context.Context, id string, read historyPage[E], seq func(E) int64) ([]E, error) {
	const limit = 500
	var out []E
	for after := int64(0); ; {
		page, err := read(ctx, keystore.HistoryQuery{ID: id, After: after, Limit: limit})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < limit {
			return out, nil
		}
		after = seq(page[len(page)-1])
	}
}

func compareSeq(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
