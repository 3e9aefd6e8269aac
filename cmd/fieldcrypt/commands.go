package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// openStore opens the store named by spec, and returns a function to close
// it.
func openStore(ctx context.Context, spec string) (keystore.Store, func(), error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		s, err := sqlite.Open(ctx, strings.TrimPrefix(spec, "sqlite:"))
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		s, err := postgres.Open(ctx, spec)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case spec == "":
		return nil, nil, errors.New("--store is required: sqlite:PATH or a postgres:// URL")
	}
	return nil, nil, fmt.Errorf("unknown store %q: want sqlite:PATH or a postgres:// URL", redactURL(spec))
}

// openKEK opens the KEK named by spec: local:PATH, or vault:MOUNT/KEY with
// the server and token from Vault's usual environment (VAULT_ADDR,
// VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, ...).
func openKEK(ctx context.Context, spec string) (kms.KEK, error) {
	switch {
	case strings.HasPrefix(spec, "local:"):
		return local.Open(strings.TrimPrefix(spec, "local:"))
	case strings.HasPrefix(spec, "vault:"):
		mount, key, ok := strings.Cut(strings.TrimPrefix(spec, "vault:"), "/")
		if !ok {
			return nil, fmt.Errorf("KEK %q: want vault:MOUNT/KEY", spec)
		}
		client, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return nil, err
		}
		// A derived key binds with context and can rewrap inside Vault;
		// read the key's configuration to know (without read permission on
		// it, assume associated_data binding).
		derived := false
		if sec, err := client.Logical().ReadWithContext(ctx, mount+"/keys/"+key); err == nil && sec != nil {
			derived, _ = sec.Data["derived"].(bool)
		}
		return vault.New(ctx, vault.Config{Client: client, Mount: mount, Key: key, Namespace: os.Getenv("VAULT_NAMESPACE"), Derived: derived})
	case spec == "":
		return nil, errors.New("a KEK is required: local:PATH or vault:MOUNT/KEY")
	}
	return nil, fmt.Errorf("unknown KEK %q: want local:PATH or vault:MOUNT/KEY", spec)
}

// redactURL hides a password in a store URL before it is printed.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 {
			return s[:i+3] + "…@" + s[i+3+j+1:]
		}
	}
	return s
}

// flags parses a command's flags; the store flag is common to all.
type flags struct {
	*flag.FlagSet
	store string
}

func newFlags(name string, errOut io.Writer) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.SetOutput(errOut)
	f.StringVar(&f.store, "store", os.Getenv("FIELDCRYPT_STORE"), "key store: sqlite:PATH or a postgres:// URL (default $FIELDCRYPT_STORE)")
	return f
}

// parseAndOpen parses the command's flags and opens the store they name.
func (f *flags) parseAndOpen(ctx context.Context, args []string) (keystore.Store, func(), error) {
	if err := f.Parse(args); err != nil {
		return nil, nil, err
	}
	return openStore(ctx, f.store)
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

func cmdMigrate(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keystore migrate", errOut)
	// Opening a store migrates it.
	_, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	closeStore()
	fmt.Fprintln(out, "schema is up to date")
	return nil
}

func cmdStatus(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keys status", errOut)
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
		if r.ID != "fieldcrypt.global" {
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
	fmt.Fprintf(out, "subject keys:   %d (%d with a retention deadline)\n", keys, withRetention)
	fmt.Fprintf(out, "tombstones:     %d\n", tombstones)
	ids := make([]string, 0, len(perKEK))
	for id := range perKEK {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(out, "wrapped by KEK %s: %d records\n", id, perKEK[id])
	}
	return nil
}

func cmdExpire(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keys expire", errOut)
	nowFlag := f.String("now", "", "erase what expired by this time (RFC 3339; default: now)")
	batch := f.Int("batch", pii.DefaultBatchSize, "records per batch")
	if err := f.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		now = t
	}
	s, closeStore, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer closeStore()
	receipts, err := pii.ExpireStore(ctx, s, now, *batch, func(n int) {
		fmt.Fprintf(errOut, "expire: %d subjects erased so far\n", n)
	})
	for _, r := range receipts {
		writeReceipt(out, r.Subject, r.ErasedAt, r.Reason, r.KEKID, r.KeyIDs)
	}
	fmt.Fprintf(errOut, "expire: done: %d subjects erased for retention\n", len(receipts))
	return err
}

func writeReceipt(out io.Writer, id string, at time.Time, reason, kek string, keyIDs []uint32) {
	json.NewEncoder(out).Encode(map[string]any{
		"subject_hash": id, "erased_at": at.UTC().Format(time.RFC3339Nano), "reason": reason,
		"kek": kek, "key_ids": keyIDs,
	})
}

func cmdReceipts(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keys receipts", errOut)
	id := f.String("id", "", "only receipts of this record ID (subject hash)")
	limit := f.Int("limit", 0, "at most this many (default: all)")
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
			writeReceipt(out, r.ID, r.ErasedAt, r.Reason, r.KEKID, r.KeyIDs)
			after = r.Seq
			n++
		}
		if len(rs) < 1000 {
			return nil
		}
	}
}

func cmdVerifyErased(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keys verify-erased", errOut)
	kekSpec := f.String("kek", os.Getenv("FIELDCRYPT_KEK"), "the KEK: local:PATH or vault:MOUNT/KEY (default $FIELDCRYPT_KEK); needed to recompute the subject's keyed hash")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return errors.New("give exactly one subject identifier")
	}
	kek, err := openKEK(ctx, *kekSpec)
	if err != nil {
		return err
	}
	s, closeStore, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer closeStore()
	p, err := pii.New(ctx, kek, s)
	if err != nil {
		return err
	}
	defer p.Close()
	st, err := p.ErasureStatus(ctx, f.Arg(0))
	if err != nil {
		return err
	}
	switch {
	case st.Erased:
		fmt.Fprintf(out, "erased at %s\n", st.ErasedAt.UTC().Format(time.RFC3339))
	case len(st.Receipts) > 0:
		fmt.Fprintln(out, "not erased now (readmitted after an earlier erasure)")
	default:
		fmt.Fprintln(out, "not erased")
	}
	for _, r := range st.Receipts {
		writeReceipt(out, r.Subject, r.ErasedAt, r.Reason, r.KEKID, r.KeyIDs)
	}
	return nil
}

// tombstoneLine is one line of an exported tombstone file.
type tombstoneLine struct {
	ID       string    `json:"id"`
	ErasedAt time.Time `json:"erased_at"`
	Reason   string    `json:"reason"`
}

func cmdExportTombstones(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keys export-tombstones", errOut)
	path := f.String("out", "", "write to this file instead of standard output")
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	w := out
	if *path != "" {
		file, err := os.OpenFile(*path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	enc := json.NewEncoder(w)
	n := 0
	err = eachTombstone(ctx, s, func(t keystore.Tombstone) error {
		n++
		return enc.Encode(tombstoneLine{t.ID, t.ErasedAt.UTC(), t.Reason})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "export-tombstones: %d tombstones written\n", n)
	return nil
}

func cmdReapplyTombstones(ctx context.Context, args []string, out, errOut io.Writer) error {
	f := newFlags("keys reapply-tombstones", errOut)
	from := f.String("from", "", "also reapply the tombstones in this file (from export-tombstones)")
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	var all []keystore.Tombstone
	if *from != "" {
		file, err := os.Open(*from)
		if err != nil {
			return err
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		for line := 1; sc.Scan(); line++ {
			var t tombstoneLine
			if err := json.Unmarshal(sc.Bytes(), &t); err != nil || t.ID == "" {
				return fmt.Errorf("%s line %d: not a tombstone", *from, line)
			}
			all = append(all, keystore.Tombstone{ID: t.ID, ErasedAt: t.ErasedAt, Reason: t.Reason})
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	err = eachTombstone(ctx, s, func(t keystore.Tombstone) error { all = append(all, t); return nil })
	if err != nil {
		return err
	}
	resurrected := 0
	for i, t := range all {
		d, err := s.Delete(ctx, t)
		found := d.Found
		if err != nil {
			return err
		}
		if found {
			resurrected++
			writeReceipt(out, t.ID, t.ErasedAt, t.Reason, "", nil)
		}
		if (i+1)%1000 == 0 {
			fmt.Fprintf(errOut, "reapply-tombstones: %d of %d checked\n", i+1, len(all))
		}
	}
	fmt.Fprintf(errOut, "reapply-tombstones: done: %d tombstones checked, %d resurrected keys erased again\n", len(all), resurrected)
	return nil
}
