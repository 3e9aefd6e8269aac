package pii

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Consent.
//
// GrantConsent and WithdrawConsent record, per subject and named purpose,
// whether the subject agrees to their data being used for it. The key
// store keeps the current state and an append-only history (purpose,
// action, time, actor, and the subject's record ID — a keyed hash, never
// the identifier). Consent may be recorded before the subject has any
// data, but not after they were forgotten (ErrForgotten). Purpose names
// are a lowercase letter followed by lowercase letters, digits, '_' or
// '-' (at most 64 bytes).
//
// Consent reads the store on every call: a withdrawal is seen at once by
// every process that asks. The key store also announces each change
// (keystore/postgres: NOTIFY, at commit) so that a cached lookup —
// consentView, the hook the Open-time enforcement of purposes will use —
// drops its answer at once; on stores that cannot announce (SQLite,
// memory) a cached answer lives at most the cache's TTL.

// ConsentChange is a grant or withdrawal of one purpose.
type ConsentChange struct {
	Purpose string
	// Actor is who records it (the subject through a form, a support
	// agent, an import): 1 to 128 printable ASCII characters, never
	// personal data.
	Actor string
	// At is when the subject gave or withdrew consent (zero: now). A
	// change older than the current state is kept in the history but
	// does not change the state.
	At time.Time
}

// ConsentEvent is an entry of the consent history.
type ConsentEvent = keystore.ConsentEvent

func (p *Protector) consentStore() (keystore.ConsentStore, error) {
	c, ok := p.ring.store.(keystore.ConsentStore)
	if !ok {
		return nil, &UnsupportedStoreError{Need: "keystore.ConsentStore"}
	}
	return c, nil
}

// GrantConsent records that subject consents to c.Purpose.
func (p *Protector) GrantConsent(ctx context.Context, subject string, c ConsentChange) error {
	return p.setConsent(ctx, subject, c, true)
}

// WithdrawConsent records that subject withdrew consent to c.Purpose.
// Withdrawing a purpose never granted is recorded too (it is what the
// subject said).
func (p *Protector) WithdrawConsent(ctx context.Context, subject string, c ConsentChange) error {
	return p.setConsent(ctx, subject, c, false)
}

func (p *Protector) setConsent(ctx context.Context, subject string, c ConsentChange, grant bool) (err error) {
	defer p.auditLifecycle(ctx, consentEvent(c, grant), subject, &err) // audit.go
	store, err := p.consentStore()
	if err != nil {
		return err
	}
	op := "withdraw consent"
	if grant {
		op = "grant consent"
	}
	change := keystore.ConsentChange{ID: "x", Purpose: c.Purpose, Grant: grant, Actor: c.Actor, At: c.At}
	if err := keystore.CheckConsent(change); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	ids, err := p.rightsAddresses(ctx, op, subject)
	if err != nil {
		return err
	}
	if err := p.checkNotForgotten(ctx, op, ids); err != nil {
		return err
	}
	if change.At.IsZero() {
		change.At = p.now()
	}
	// Written at the newest address; reads merge every live address, and
	// re-addressing merges older states in (keystore.MergeConsent).
	change.ID = ids[0]
	_, err = store.SetConsent(ctx, change)
	p.ring.consent.invalidate(change.ID) // consent_cache.go: at once in this process
	if errors.Is(err, keystore.ErrTombstoned) {
		return ErrForgotten
	} else if err != nil {
		return fmt.Errorf("pii: %s: %w", op, err)
	}
	return nil
}

// Consent returns the purposes subject consents to now, sorted. It fails
// with ErrForgotten for a forgotten subject.
func (p *Protector) Consent(ctx context.Context, subject string) ([]string, error) {
	store, err := p.consentStore()
	if err != nil {
		return nil, err
	}
	ids, err := p.rightsAddresses(ctx, "consent", subject)
	if err != nil {
		return nil, err
	}
	// As GrantConsent and WithdrawConsent do: a forgotten subject is an
	// error, not "consents to nothing".
	if err := p.checkNotForgotten(ctx, "consent", ids); err != nil {
		return nil, err
	}
	return grantedAt(ctx, store, ids)
}

// grantedAt returns the purposes granted now across ids (merged per
// purpose: the latest change wins, the newer address on a tie).
func grantedAt(ctx context.Context, store keystore.ConsentStore, ids []string) ([]string, error) {
	state := map[string]keystore.Consent{}
	for _, id := range slices.Backward(ids) { // oldest first: newer wins ties
		cs, err := store.Consents(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("pii: consent: %w", err)
		}
		for _, c := range cs {
			if cur, ok := state[c.Purpose]; ok {
				c = keystore.MergeConsent(cur, c)
			}
			state[c.Purpose] = c
		}
	}
	out := []string{}
	for purpose, c := range state {
		if c.Granted {
			out = append(out, purpose)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ConsentHistory returns every grant and withdrawal recorded for subject,
// under every address they ever had, oldest first.
func (p *Protector) ConsentHistory(ctx context.Context, subject string) ([]ConsentEvent, error) {
	store, err := p.consentStore()
	if err != nil {
		return nil, err
	}
	all, err := p.allAddresses(ctx, "consent history", subject)
	if err != nil {
		return nil, err
	}
	var out []ConsentEvent
	for _, id := range all {
		evs, err := pages(ctx, id, store.ConsentHistory, func(e ConsentEvent) int64 { return e.Seq })
		if err != nil {
			return nil, fmt.Errorf("pii: consent history: %w", err)
		}
		out = append(out, evs...)
	}
	slices.SortFunc(out, func(a, b ConsentEvent) int { return compareSeq(a.Seq, b.Seq) })
	return out, nil
}
