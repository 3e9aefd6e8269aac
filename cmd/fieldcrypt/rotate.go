package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
)

// tally counts what a bulk key operation did.
type tally struct {
	done, skipped, failed int
	stale                 int // of skipped: changed or erased since read
}

func (t tally) String() string {
	s := fmt.Sprintf("%d done, %d skipped, %d failed", t.done, t.skipped, t.failed)
	if t.stale > 0 {
		s += fmt.Sprintf(" (%d of the skipped changed or were erased meanwhile: run again to catch up)", t.stale)
	}
	return s
}

// update stores r, as read and then changed. A record that another
// process changed, erased or replaced (a readmitted subject's new key)
// since it was read is left as it is and counted as skipped: Update
// refuses a stale Version or Incarnation, so an old key never overwrites
// a newer one.
func update(ctx context.Context, s keystore.Store, r keystore.Record, t *tally) error {
	if _, err := s.Update(ctx, r); err != nil {
		if errors.Is(err, keystore.ErrConflict) || errors.Is(err, keystore.ErrTombstoned) || errors.Is(err, keystore.ErrNotFound) {
			t.skipped++
			t.stale++
			return nil
		}
		return err
	}
	t.done++
	return nil
}

// walkBatches calls fn with batches of up to size (at least 1) records
// after the cursor, and stops after limit records (0: no limit). It reports progress
// after each batch, with the cursor, so an interrupted run can resume with
// --after.
func walkBatches(ctx context.Context, s keystore.Store, after string, size, limit int, errOut io.Writer, what string, t *tally, fn func([]keystore.Record) error) error {
	bar := newProgress(ctx, errOut, what, s, after)
	defer bar.finish()
	seen := 0
	for {
		n := size
		if limit > 0 {
			if seen >= limit {
				bar.finish()
				fmt.Fprintf(errOut, "%s: stopped after %d records (--limit); resume with --after %s\n", what, seen, after)
				return nil
			}
			n = min(n, limit-seen)
		}
		recs, err := s.Scan(ctx, after, n)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		if err := fn(recs); err != nil {
			return err
		}
		seen += len(recs)
		after = recs[len(recs)-1].ID
		bar.update(seen, *t, after)
	}
}

func cmdRewrap(ctx context.Context, args []string, std stdio) error {
	out, errOut := std.out, std.err
	f := newFlags("keys rewrap", std)
	kekSpec := f.kekFlag("the KEK whose keys to rewrap: vault:MOUNT/KEY")
	batch := f.batchFlag(250, "records per KMS call")
	after := f.String("after", "", "resume after this record ID")
	limit := f.limitFlag("stop after this many records")
	if err := f.parse(args); err != nil {
		return err
	}
	k, err := openKEK(ctx, *kekSpec)
	if err != nil {
		return err
	}
	vk, ok := k.(*vault.KEK)
	if !ok {
		return fmt.Errorf("KEK %s has no key versions to rewrap to; use keys migrate to move to another KEK", k.ID())
	}
	defer vk.Close()
	latest, err := vk.LatestVersion(ctx)
	if err != nil {
		return err
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	var t tally
	err = walkBatches(ctx, s, *after, *batch, *limit, errOut, "rewrap", &t, func(recs []keystore.Record) error {
		var todo []keystore.Record
		var reqs []kms.Request
		for _, r := range recs {
			if v, _ := vault.KeyVersion(r.Wrapped); r.KEKID != k.ID() || v >= latest {
				t.skipped++ // another KEK's, or already at the newest version
				continue
			}
			todo = append(todo, r)
			reqs = append(reqs, kms.Request{Data: r.Wrapped, AssociatedData: subjectkey.WrapAssociatedData(r.ID)})
		}
		rewrapped, err := rewrap(ctx, vk, reqs)
		if err != nil {
			return err
		}
		for i, r := range todo {
			if rewrapped[i].Err != nil {
				t.failed++
				fmt.Fprintf(errOut, "rewrap: %s: %v\n", r.ID, rewrapped[i].Err)
				continue
			}
			r.Wrapped = rewrapped[i].Data
			if err := update(ctx, s, r, &t); err != nil {
				return err
			}
		}
		return nil
	})
	fmt.Fprintf(out, "rewrap: %s\n", t)
	return err
}

// rewrap re-encrypts wrapped keys under the KEK's newest version: inside
// Vault for a derived key (whose binding, the context, Vault's rewrap
// honours), else by a batched decrypt and encrypt, zeroing the keysets in
// between (Vault's rewrap ignores associated_data).
func rewrap(ctx context.Context, k *vault.KEK, reqs []kms.Request) ([]kms.Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if k.Derived() {
		return k.Rewrap(ctx, reqs)
	}
	plain, err := k.DecryptBatch(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]kms.Result, len(reqs))
	var enc []kms.Request
	var at []int
	for i, p := range plain {
		if p.Err != nil {
			out[i].Err = p.Err
			continue
		}
		enc = append(enc, kms.Request{Data: p.Data, AssociatedData: reqs[i].AssociatedData})
		at = append(at, i)
	}
	wrapped, err := k.EncryptBatch(ctx, enc)
	for _, e := range enc {
		subjectkey.Zero(e.Data)
	}
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = wrapped[j]
	}
	return out, nil
}

func cmdMigrateKEK(ctx context.Context, args []string, std stdio) error {
	out, errOut := std.out, std.err
	f := newFlags("keys migrate", std)
	fromSpec := f.String("from", "", "the KEK the keys are wrapped by now: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...")
	toSpec := f.String("to", "", "the KEK to wrap them with: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...")
	batch := f.batchFlag(250, "records per batch")
	after := f.String("after", "", "resume after this record ID")
	limit := f.limitFlag("stop after this many records")
	if err := f.parse(args); err != nil {
		return err
	}
	from, err := openKEK(ctx, *fromSpec)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := openKEK(ctx, *toSpec)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	for _, k := range []kms.KEK{from, to} {
		if vk, ok := k.(*vault.KEK); ok {
			defer vk.Close()
		}
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	var t tally
	err = walkBatches(ctx, s, *after, *batch, *limit, errOut, "migrate", &t, func(recs []keystore.Record) error {
		return migrateRecords(ctx, s, from, to, recs, &t, errOut)
	})
	fmt.Fprintf(out, "migrate: %s\n", t)
	return err
}

// migrateRecords moves the records wrapped by from to to, as read by a
// scan: a record changed since is skipped (see update).
func migrateRecords(ctx context.Context, s keystore.Store, from, to kms.KEK, recs []keystore.Record, t *tally, errOut io.Writer) error {
	for _, r := range recs {
		if r.KEKID == to.ID() || r.KEKID != from.ID() {
			t.skipped++
			continue
		}
		ad := subjectkey.WrapAssociatedData(r.ID)
		raw, err := from.Decrypt(ctx, r.Wrapped, ad)
		if err != nil {
			t.failed++
			fmt.Fprintf(errOut, "migrate: %s: %v\n", r.ID, err)
			continue
		}
		wrapped, err := to.Encrypt(ctx, raw, ad)
		subjectkey.Zero(raw)
		if err != nil {
			return err // the target KEK is failing: stop rather than fail every record
		}
		r.Wrapped, r.KEKID = wrapped, to.ID()
		if err := update(ctx, s, r, t); err != nil {
			return err
		}
	}
	return nil
}
