package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// The breach-response commands (see SECURITY.md, "Breach response"): one
// subject's keys (keys rotate-subject), the global token key (keys
// rotate-token-key) and the global index key (index rotate-key, index
// status). The KEK (keys migrate, keys rewrap) and the addressing key
// (keys readdress) have their own commands.

// cmdRotateSubject rotates one subject's encryption key after it leaked:
// Seal uses the new key from then on; the application re-seals the
// subject's records (pii.Backfill) so that nothing stays under the old key.
func cmdRotateSubject(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys rotate-subject", std)
	f.kekFlag(kekUsage)
	return subjectCommand(ctx, f, args, std, nil, func(p *pii.Protector, _ keystore.Store, subject string) error {
		id, err := p.RotateSubjectKey(ctx, subject)
		if errors.Is(err, pii.ErrKeyNotFound) {
			return fmt.Errorf("the subject has no keys in this store (check --store and --kek): %w", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "rotated: new encryption key %d is the one Seal uses\n", id)
		fmt.Fprintln(std.err, "next: re-seal the subject's records (pii.Backfill) so that no value stays under the old key; other instances use the new key within their key cache TTL. Deterministic fields keep their key (rotating it would break equality).")
		return nil
	})
}

// cmdRotateTokenKey adds a new global token key after the old one leaked.
// It needs --yes: scope=global tokens made before are unreadable with the
// new key until re-tokenized (see the printed procedure).
func cmdRotateTokenKey(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys rotate-token-key", std)
	f.kekFlag("the KEK: " + kekForms)
	yes := f.Bool("yes", false, "rotate (without it, only say what would happen)")
	return protectorCommand(ctx, f, args, func(p *pii.Protector) error {
		ids, inUse := p.GlobalTokenKeys()
		fmt.Fprintf(std.out, "global token keys: %v; current: %d\n", ids, inUse)
		if !*yes {
			fmt.Fprintln(std.out, "not rotated (add --yes): scope=global tokens made before a rotation stay readable only by a Protector pinned to the old key (pii.WithGlobalTokenKey) until every record is re-tokenized")
			return nil
		}
		id, err := p.RotateGlobalTokenKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "rotated: new global token key %d (old: %d)\n", id, inUse)
		fmt.Fprintf(std.err, "next: with writers of scope=global token fields stopped, open every record with a Protector created with pii.WithGlobalTokenKey(%d), seal it with one created now, write it back; then restart every process (a Protector reads the global keys in New)\n", inUse)
		return nil
	})
}

// cmdIndexRotateKey adds a version of the global index key after it
// leaked; Seal writes it from its activation time on.
func cmdIndexRotateKey(ctx context.Context, args []string, std stdio) error {
	f := newFlags("index rotate-key", std)
	f.kekFlag("the KEK: " + kekForms)
	delay := f.Duration("activation-delay", -1, "how long until Seal writes the new version: the longest key cache TTL of the applications sharing the store plus clock skew (default: the library's default, 5m plus pii.IndexKeyClockSkew)")
	return protectorCommand(ctx, f, args, func(p *pii.Protector) error {
		v, err := p.RotateIndexKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "rotated: index key version %d\n", v)
		printIndexStatus(std, p.IndexKeyStatus())
		fmt.Fprintln(std.err, "next: once the new version is written, re-index every table (pii.ReindexAll), check that no row holds a term of the old version (pii.IndexTermVersion), then retire it (pii.RetireIndexKey)")
		return nil
	}, func() ([]pii.Option, error) {
		if *delay == -1 {
			return nil, nil
		}
		if *delay < 0 {
			return nil, usagef("--activation-delay must not be negative")
		}
		return []pii.Option{pii.WithIndexKeyActivationDelay(*delay)}, nil
	})
}

// cmdIndexStatus lists the versions of the global index key.
func cmdIndexStatus(ctx context.Context, args []string, std stdio) error {
	f := newFlags("index status", std)
	f.kekFlag("the KEK: " + kekForms)
	return protectorCommand(ctx, f, args, func(p *pii.Protector) error {
		st := p.IndexKeyStatus()
		if len(st) == 0 {
			fmt.Fprintln(std.out, "no index key yet (created by the first Seal of a type with a blind index, or by index rotate-key)")
			return nil
		}
		printIndexStatus(std, st)
		return nil
	})
}

func printIndexStatus(std stdio, st []pii.IndexKeyInfo) {
	for _, k := range st {
		line := fmt.Sprintf("version %d", k.Version)
		if k.ActiveAt.IsZero() {
			line += ": active from the start"
		} else {
			line += ": written from " + k.ActiveAt.UTC().Format(time.RFC3339)
		}
		if k.Writing {
			line += " (written now)"
		}
		fmt.Fprintln(std.out, line)
	}
}

// protectorCommand parses a command without positional arguments, opens
// the store (which must exist) and a Protector that never creates the
// global keys, and calls fn. opts, if given, supplies more Protector
// options after parsing.
func protectorCommand(ctx context.Context, f *flags, args []string, fn func(p *pii.Protector) error, opts ...func() ([]pii.Option, error)) error {
	if err := f.parse(args); err != nil {
		return err
	}
	var extra []pii.Option
	for _, o := range opts {
		more, err := o()
		if err != nil {
			return err
		}
		extra = append(extra, more...)
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	kek, err := openKEK(ctx, *f.kek)
	if err != nil {
		return err
	}
	defer closeKEK(kek)
	p, err := pii.New(ctx, kek, s, append([]pii.Option{pii.WithoutInit()}, extra...)...)
	if err != nil {
		return err
	}
	defer p.Close()
	return fn(p)
}
