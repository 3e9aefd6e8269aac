package main

import (
	"context"
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// cmdReaddress recovers from a leak of the addressing key: with --rotate
// it adds a new addressing key, then it moves every record and tombstone to
// its address under the newest key and, once nothing is left at an older
// address, retires the older generations. Without --rotate it resumes (or
// checks) a re-addressing already started.
func cmdReaddress(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys readdress", std)
	kekSpec := f.kekFlag("the KEK: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...")
	batch := f.batchFlag(500, "records read per store call")
	rotate := f.Bool("rotate", false, "first add a new addressing key (after a leak of the current one)")
	dryRun := f.Bool("dry-run", false, "count what would be moved; change nothing")
	if err := f.parse(args); err != nil {
		return err
	}
	if *rotate && *dryRun {
		return usagef("--rotate and --dry-run exclude each other")
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	p, kek, err := openProtector(ctx, *kekSpec, s)
	if err != nil {
		return err
	}
	defer closeKEK(kek)
	defer p.Close()

	st := p.Addressing()
	if *rotate {
		if st, err = p.RotateAddressingKey(ctx); err != nil {
			return err
		}
		fmt.Fprintf(std.err, "rotated: new addresses are generation %d\n", st.Newest)
	}
	if st.Live == st.Newest && !*rotate {
		fmt.Fprintf(std.out, "nothing to do: every address is generation %d (use --rotate after a leak of the addressing key)\n", st.Newest)
		return nil
	}
	progress := func(r pii.ReaddressReport) {
		fmt.Fprintf(std.err, "\rmoved %d records, %d tombstones; %d already current", r.Records, r.Tombstones, r.Current)
	}
	rep, err := p.ReaddressAll(ctx, pii.ReaddressOptions{BatchSize: *batch, DryRun: *dryRun, Progress: progress})
	fmt.Fprintln(std.err)
	if err != nil {
		return fmt.Errorf("%w (run the command again, without --rotate, to resume)", err)
	}
	verb := "moved"
	if *dryRun {
		verb = "would move"
	}
	fmt.Fprintf(std.out, "generation %d: %s %d records and %d tombstones; %d already current; %d erased (their subject's tombstone stood at another address); %d conflicts; %d not subject records\n",
		st.Newest, verb, rep.Records, rep.Tombstones, rep.Current, rep.Erased, rep.Conflicts, rep.Skipped)
	if *dryRun {
		return nil
	}
	if rep.Remaining > 0 {
		return fmt.Errorf("%d records or tombstones are still at an older address (conflicts: a subject with keys at two addresses); resolve them and run again", rep.Remaining)
	}
	if st, err = p.RetireAddressingKeys(ctx); err != nil {
		return err
	}
	fmt.Fprintf(std.out, "complete: lookups use generation %d only; take a new backup and export-tombstones again, and destroy the earlier ones\n", st.Newest)
	return nil
}
