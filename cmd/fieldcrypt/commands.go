package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// flags parses a command's flags; the store flag is common to all.
type flags struct {
	*flag.FlagSet
	store        string
	kek          *string // set by kekFlag
	batch, limit *int    // set by batchFlag and limitFlag, checked by parse
	positional   int     // how many positional arguments the command takes
}

func newFlags(name string, std stdio) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.SetOutput(std.err)
	// The default is filled in after parsing, so that -h never prints
	// $FIELDCRYPT_STORE (which may hold a password).
	f.StringVar(&f.store, "store", "", "key store: sqlite:PATH or a postgres:// URL (default $"+envStore+")")
	return f
}

// kekFlag adds --kek, defaulting to $FIELDCRYPT_KEK.
func (f *flags) kekFlag(usage string) *string {
	f.kek = f.String("kek", "", usage+" (default $"+envKEK+")")
	return f.kek
}

// batchFlag adds --batch, which must be at least 1.
func (f *flags) batchFlag(def int, usage string) *int {
	f.batch = f.Int("batch", def, usage)
	return f.batch
}

// limitFlag adds --limit, which must not be negative; 0 means no limit.
func (f *flags) limitFlag(usage string) *int {
	f.limit = f.Int("limit", 0, usage+" (default 0: no limit)")
	return f.limit
}

// parse parses args, fills in defaults from the environment and checks
// the values: a mistake is a usageError, before anything is opened.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if f.store == "" {
		f.store = os.Getenv(envStore)
	}
	if f.kek != nil && *f.kek == "" {
		*f.kek = os.Getenv(envKEK)
	}
	if f.batch != nil && *f.batch < 1 {
		return usagef("--batch must be at least 1, not %d", *f.batch)
	}
	if f.limit != nil && *f.limit < 0 {
		return usagef("--limit must be 0 (no limit) or more, not %d", *f.limit)
	}
	if f.NArg() != f.positional {
		if f.positional == 0 {
			return usagef("unexpected argument %q (flags go before arguments; see -h)", f.Arg(0))
		}
		return usagef("want %d argument(s), got %d", f.positional, f.NArg())
	}
	return nil
}

// parseAndOpen parses the command's flags and opens the store they name,
// which must exist.
func (f *flags) parseAndOpen(ctx context.Context, args []string) (keystore.Store, func(), error) {
	if err := f.parse(args); err != nil {
		return nil, nil, err
	}
	return openStore(ctx, f.store, mustExist)
}

// eachRecord calls fn for every key record after the cursor, in ID order.
func eachRecord(ctx context.Context, s keystore.Store, after string, fn func(keystore.Record) error) error {
	for {
		recs, err := s.Scan(ctx, after, 1000)
		if err != nil || len(recs) == 0 {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		after = recs[len(recs)-1].ID
	}
}

// eachTombstone calls fn for every tombstone, in ID order.
func eachTombstone(ctx context.Context, s keystore.Store, fn func(keystore.Tombstone) error) error {
	after := ""
	for {
		ts, err := s.Tombstones(ctx, after, 1000)
		if err != nil || len(ts) == 0 {
			return err
		}
		for _, t := range ts {
			if err := fn(t); err != nil {
				return err
			}
		}
		after = ts[len(ts)-1].ID
	}
}

func cmdMigrate(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keystore migrate", std)
	if err := f.parse(args); err != nil {
		return err
	}
	// Opening a store creates or migrates it: the one command that may.
	_, closeStore, err := openStore(ctx, f.store, mayCreate)
	if err != nil {
		return err
	}
	closeStore()
	fmt.Fprintln(std.out, "schema is up to date")
	return nil
}

func cmdStatus(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys status", std)
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	perKEK := map[string]int{} // "KEK ID" or "KEK ID version N"
	keys, withRetention, tombstones := 0, 0, 0
	err = eachRecord(ctx, s, "", func(r keystore.Record) error {
		label := r.KEKID
		if v, ok := vault.KeyVersion(r.Wrapped); ok {
			label += fmt.Sprintf(" version %d", v)
		}
		perKEK[label]++
		if r.ID != globalRecordID {
			keys++
		}
		if !r.RetainUntil.IsZero() {
			withRetention++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := eachTombstone(ctx, s, func(keystore.Tombstone) error { tombstones++; return nil }); err != nil {
		return err
	}
	fmt.Fprintf(std.out, "subject keys:   %d (%d with a retention deadline)\n", keys, withRetention)
	fmt.Fprintf(std.out, "tombstones:     %d\n", tombstones)
	ids := make([]string, 0, len(perKEK))
	for id := range perKEK {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(std.out, "wrapped by KEK %s: %d records\n", id, perKEK[id])
	}
	return nil
}

func cmdExpire(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys expire", std)
	nowFlag := f.String("now", "", "erase what expired by this time (RFC 3339; default: now)")
	batch := f.batchFlag(pii.DefaultBatchSize, "records per batch")
	if err := f.parse(args); err != nil {
		return err
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return usagef("--now: %v", err)
		}
		now = t
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	rep, err := pii.SweepStore(ctx, s, now, *batch, func(n int) {
		fmt.Fprintf(std.err, "expire: %d subjects erased so far\n", n)
	})
	for _, r := range rep.Receipts {
		writeReceipt(std.out, r.Subject, r.ErasedAt, r.Reason, r.KEKID, r.KeyIDs)
	}
	for _, h := range rep.Held {
		fmt.Fprintf(std.err, "expire: %s is under legal hold (reference %q): kept\n", h.Subject, h.Reference)
	}
	fmt.Fprintf(std.err, "expire: done: %d subjects erased for retention, %d kept under legal hold\n", len(rep.Receipts), len(rep.Held))
	return err
}

func writeReceipt(out io.Writer, id string, at time.Time, reason, kek string, keyIDs []uint32) {
	json.NewEncoder(out).Encode(map[string]any{
		"subject_hash": id, "erased_at": at.UTC().Format(time.RFC3339Nano), "reason": reason,
		"kek": kek, "key_ids": keyIDs,
	})
}

func cmdReceipts(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys receipts", std)
	id := f.String("id", "", "only receipts of this record ID (subject hash)")
	limit := f.limitFlag("at most this many")
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	n := 0
	for after := int64(0); ; {
		rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: *id, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, r := range rs {
			if *limit > 0 && n == *limit {
				return nil
			}
			writeReceipt(std.out, r.ID, r.ErasedAt, r.Reason, r.KEKID, r.KeyIDs)
			after = r.Seq
			n++
		}
		if len(rs) < 1000 {
			return nil
		}
	}
}

// vacuumer is a store that can reclaim the space, and overwrite the bytes,
// of deleted records (keystore/postgres).
type vacuumer interface {
	Vacuum(ctx context.Context) error
}

func cmdVacuum(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys vacuum", std)
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	switch s := s.(type) {
	case *sqlite.Store:
		fmt.Fprintln(std.out, "vacuum: not needed for SQLite: the store deletes with secure_delete on and checkpoints the write-ahead log after every erasure")
		return nil
	case vacuumer:
		if err := s.Vacuum(ctx); err != nil {
			return err
		}
		fmt.Fprintln(std.out, "vacuum: done: erased keys' dead rows are gone from the table files; copies in WAL archives and base backups remain until they expire (rotate the KEK and retire its old versions to destroy those)")
		return nil
	}
	return fmt.Errorf("vacuum: the store %T cannot vacuum", s)
}
