package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// errFileRefused reports a tombstone file that reapply-tombstones refused
// as a whole: nothing was changed.
var errFileRefused = errors.New("the tombstone file is refused; nothing was changed")

// readTombstones reads an export-tombstones file. Every line must be a
// tombstone of a subject record ID; unless unauthenticated, every line
// must carry a MAC that p verifies. One bad line refuses the whole file.
func readTombstones(path string, p *pii.Protector, unauthenticated bool) ([]keystore.Tombstone, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var all []keystore.Tombstone
	sc := bufio.NewScanner(file)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l tombstoneLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.ID == "" || l.ErasedAt.IsZero() {
			return nil, fmt.Errorf("%s line %d: not a tombstone: %w", path, line, errFileRefused)
		}
		if !isSubjectID(l.ID) {
			id := l.ID
			if len(id) > 64 {
				id = id[:64] + "…"
			}
			return nil, fmt.Errorf("%s line %d: %q is not a subject key ID (only \"s.\" and 43 base64url characters are): %w", path, line, id, errFileRefused)
		}
		t := l.tombstone()
		if !unauthenticated {
			if len(l.MAC) == 0 {
				return nil, fmt.Errorf("%s line %d: no MAC (an export from an older fieldcrypt? check where the file came from, then use --unauthenticated): %w", path, line, errFileRefused)
			}
			if err := p.VerifyTombstone(t, l.MAC); err != nil {
				return nil, fmt.Errorf("%s line %d: %w: %w", path, line, err, errFileRefused)
			}
		}
		all = append(all, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, err, errFileRefused)
	}
	return all, nil
}

// reapplyPlan is what reapply-tombstones would do.
type reapplyPlan struct {
	tombstones map[string]keystore.Tombstone // every ID, with its latest erasure
	erase      []string                      // IDs with a record that came back: erase it
	restore    []string                      // IDs without a tombstone or record: write the tombstone
	readmitted []keystore.Record             // records created after their erasure: kept
	stored     int                           // IDs whose tombstone stands and have no record: nothing to do
}

// planReapply merges the file's tombstones with the store's and compares
// them with the store's records. A record created after the (latest)
// erasure of its ID is a readmission, not a resurrection, and is kept.
func planReapply(ctx context.Context, s keystore.Store, fromFile []keystore.Tombstone, warn func(format string, args ...any)) (*reapplyPlan, error) {
	plan := &reapplyPlan{tombstones: map[string]keystore.Tombstone{}}
	add := func(t keystore.Tombstone) {
		if old, ok := plan.tombstones[t.ID]; !ok || t.ErasedAt.After(old.ErasedAt) {
			plan.tombstones[t.ID] = t
		}
	}
	for _, t := range fromFile {
		add(t)
	}
	inStore := map[string]bool{}
	err := eachTombstone(ctx, s, func(t keystore.Tombstone) error {
		if !isSubjectID(t.ID) {
			warn("the store's tombstone for %q is not a subject's: left alone", t.ID)
			return nil
		}
		inStore[t.ID] = true
		add(t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	withRecord := map[string]bool{}
	err = eachRecord(ctx, s, "", func(r keystore.Record) error {
		t, ok := plan.tombstones[r.ID]
		if !ok {
			return nil
		}
		withRecord[r.ID] = true
		if r.Created.After(t.ErasedAt) {
			plan.readmitted = append(plan.readmitted, r)
		} else {
			plan.erase = append(plan.erase, r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id := range plan.tombstones {
		switch {
		case withRecord[id]:
		case inStore[id]:
			plan.stored++
		default:
			plan.restore = append(plan.restore, id)
		}
	}
	sort.Strings(plan.restore)
	return plan, nil
}

func cmdReapplyTombstones(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys reapply-tombstones", std)
	from := f.String("from", "", "also reapply the tombstones in this file (from export-tombstones)")
	kekSpec := f.kekFlag("the KEK: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...; needed to check the file's MACs")
	dryRun := f.Bool("dry-run", false, "say what would be done (how many live keys would be erased), change nothing")
	yes := f.Bool("yes", false, "erase the live keys that came back (required when there are any)")
	unauthenticated := f.Bool("unauthenticated", false, "accept a file without MACs (an export from an older fieldcrypt): DANGEROUS, anyone who could write the file chooses what is erased")
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	warn := func(format string, args ...any) {
		fmt.Fprintf(std.err, "reapply-tombstones: "+format+"\n", args...)
	}

	var fromFile []keystore.Tombstone
	if *from != "" {
		var p *pii.Protector
		if *unauthenticated {
			warn("WARNING: --unauthenticated: the MACs of %s are NOT checked; whoever could write that file decides which keys are erased. Run with --dry-run first and check the count.", *from)
		} else {
			pr, kek, err := openProtector(ctx, *kekSpec, s)
			if err != nil {
				return fmt.Errorf("open the keys to check the file's MACs: %w", err)
			}
			defer closeKEK(kek)
			defer pr.Close()
			p = pr
		}
		if fromFile, err = readTombstones(*from, p, *unauthenticated); err != nil {
			return err
		}
	}
	plan, err := planReapply(ctx, s, fromFile, warn)
	if err != nil {
		return err
	}
	for _, r := range plan.readmitted {
		warn("%s: kept: its key was created at %s, after its erasure at %s (readmitted since), so it is not erased", r.ID, r.Created.UTC().Format(time.RFC3339), plan.tombstones[r.ID].ErasedAt.UTC().Format(time.RFC3339))
	}
	if *dryRun {
		fmt.Fprintf(std.out, "reapply-tombstones: dry run: %d tombstones checked: would erase %d live keys that came back, restore %d tombstones, keep %d readmitted subjects\n",
			len(plan.tombstones), len(plan.erase), len(plan.restore), len(plan.readmitted))
		return nil
	}
	if len(plan.erase) > 0 && !*yes {
		return fmt.Errorf("%d live keys would be erased (see --dry-run); nothing was changed: run again with --yes to erase them", len(plan.erase))
	}

	resurrected, restored, kept, checked := 0, 0, len(plan.readmitted), 0
	for _, id := range append(plan.erase, plan.restore...) {
		t := plan.tombstones[id]
		// Check again just before deleting: the store may have changed
		// since the plan (run this before the applications come back).
		switch r, err := s.Get(ctx, id); {
		case err == nil && r.Created.After(t.ErasedAt):
			warn("%s: kept: readmitted while this command ran", id)
			kept++
			continue
		case err != nil && !errors.Is(err, keystore.ErrNotFound) && !errors.Is(err, keystore.ErrTombstoned):
			return err
		}
		d, err := s.Delete(ctx, t)
		if err != nil {
			return err
		}
		if d.Found {
			resurrected++
			writeReceipt(std.out, t.ID, t.ErasedAt, t.Reason, d.Removed.KEKID, d.Removed.KeyIDs)
		} else if !d.AlreadyTombstoned {
			restored++
		}
		if checked++; checked%1000 == 0 {
			warn("%d of %d done", checked, len(plan.erase)+len(plan.restore))
		}
	}
	fmt.Fprintf(std.err, "reapply-tombstones: done: %d tombstones checked, %d resurrected keys erased again, %d tombstones restored, %d readmitted subjects kept\n",
		len(plan.tombstones), resurrected, restored, kept)
	return nil
}
