package pii

import (
	"context"
	"errors"
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Re-addressing holds and consent that stand on an address without a
// record or tombstone (a hold or consent recorded before the subject had
// data). Records carry their holds and consent with them when ReaddressAll
// moves them (keystore.Readdresser moves them in the same step); these
// two functions cover the rest, for ReaddressAll to call after its
// tombstones (moved) and for remaining (left).

// readdressRights moves every hold and consent state left at an address
// older than a's newest, and returns how many IDs it moved (with dry, how
// many it would move).
func (p *Protector) readdressRights(ctx context.Context, a *addressing, batch int, dry bool) (int, error) {
	moved := 0
	err := p.eachRightsID(ctx, batch, func(id string) error {
		g, ok := Generation(id)
		if !ok || g >= a.newest() {
			return nil
		}
		if dry {
			moved++
			return nil
		}
		to, err := a.forward(id, g)
		if err != nil {
			return err
		}
		m, err := p.ring.readdress(ctx, keystore.Move{From: id, To: to})
		switch {
		case errors.Is(err, keystore.ErrNotFound), errors.Is(err, keystore.ErrConflict):
			return nil // moved meanwhile, or a record came (ReaddressAll moves it)
		case err != nil:
			return fmt.Errorf("pii: readdress holds and consent: %w", holdError(err))
		}
		if m.Rights {
			moved++
		}
		return nil
	})
	return moved, err
}

// remainingRights counts the IDs at an address older than a's newest that
// still carry a hold or consent state.
func (p *Protector) remainingRights(ctx context.Context, a *addressing, batch int) (int, error) {
	n := 0
	err := p.eachRightsID(ctx, batch, func(id string) error {
		if g, ok := Generation(id); ok && g < a.newest() {
			n++
		}
		return nil
	})
	return n, err
}

// eachRightsID calls fn for every ID with a hold, then every ID with a
// consent state (an ID with both is visited twice).
func (p *Protector) eachRightsID(ctx context.Context, batch int, fn func(id string) error) error {
	var lists []func(context.Context, string, int) ([]string, error)
	if h, ok := p.ring.store.(keystore.Holder); ok {
		lists = append(lists, h.HeldIDs)
	}
	if c, ok := p.ring.store.(keystore.ConsentStore); ok {
		lists = append(lists, c.ConsentIDs)
	}
	for _, list := range lists {
		for after := ""; ; {
			ids, err := list(ctx, after, batch)
			if err != nil {
				return fmt.Errorf("pii: readdress holds and consent: %w", err)
			}
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				after = id
				if err := fn(id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
