package pii

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// BackfillOptions say where Backfill reads and writes the application's
// rows. T is the row type: a struct type with pii tags, or a pointer to one.
type BackfillOptions[T any] struct {
	// Fetch returns the next page of at most limit rows after the cursor
	// after ("" for the first page), in a stable order, and the cursor of
	// the page's last row ("" when there are no more rows). A keyset query
	// is the natural shape: WHERE id > $after ORDER BY id LIMIT $limit.
	Fetch func(ctx context.Context, after string, limit int) (rows []T, next string, err error)

	// Save writes back the rows of a page that Backfill changed, and
	// returns how many it wrote. It must write a row only if the row was
	// not changed since Fetch read it (a version column, or the old column
	// values in the WHERE clause), so that a concurrent application write
	// is never overwritten with older data; a row it skips is looked at
	// again by the next run. Not called in a dry run or for a page with
	// nothing to change.
	Save func(ctx context.Context, rows []T) (written int, err error)

	// BatchSize is the page size (default 500).
	BatchSize int

	// After resumes a run: the Cursor of its last progress report.
	After string

	// DryRun counts, and changes and saves nothing: the report's
	// Plaintext and OldKey are what remains to be done.
	DryRun bool

	// Progress, if set, is called after each page is saved, with the
	// totals so far and the cursor to resume from.
	Progress func(BackfillReport)
}

// BackfillReport counts the rows a Backfill run looked at.
type BackfillReport struct {
	// Cursor resumes the run after the last page that was done.
	Cursor string
	// Scanned counts the rows fetched.
	Scanned int
	// Plaintext counts the rows that held at least one value of an
	// encrypt field in plaintext (a string or []byte without the
	// ciphertext prefix, a Sealed value holding a plaintext).
	Plaintext int
	// OldKey counts the other rows that held at least one ciphertext made
	// with a retired key of its subject (before RotateSubjectKey), or in
	// an older format than its field now uses (format 1 in a field now
	// bound to a record).
	OldKey int
	// Current counts the rows that needed nothing.
	Current int
	// Written counts the rows Save wrote, sealed under the current keys.
	// Plaintext + OldKey - Failed - Written rows were skipped by Save
	// (changed meanwhile) and are looked at by the next run.
	Written int
	// Failed counts the rows that could not be sealed or opened, and
	// Errors holds the first MaxBackfillErrors of their errors
	// (*FieldError, with the row's index in its page; never a value).
	Failed int
	Errors []error
}

// MaxBackfillErrors is how many row errors a BackfillReport keeps.
const MaxBackfillErrors = 100

// Backfill brings a table's protected fields to the current keys, in
// resumable pages: it seals plaintext values of encrypt fields (a table
// being encrypted, or a field newly tagged), and re-seals values sealed
// under a subject key retired by RotateSubjectKey (after which
// PruneSubjectKeys can destroy the old key), or in format 1 in a field
// now bound to a record (after which WithRecordBindingRequired can be
// turned on). Values already current are left byte for byte as they are,
// and rows that need nothing are not saved.
//
// A row's values are sealed with the same subject, scope, name and record
// as Seal would use. A row that fails (a forgotten subject, a tampered or
// foreign ciphertext, an empty subject) is counted in Failed and left as
// it is; the others are saved. Token fields are left as they are (a
// plaintext in a token field cannot be told from a token). Empty strings
// are left empty, as Seal leaves them.
//
// Run it while the application keeps writing: it reads each page once,
// changes only rows that need it, and relies on Save to skip rows that the
// application changed meanwhile. Rows the application writes sealed are
// left alone. Interrupted (ctx cancelled, an error), it returns the report
// so far, whose Cursor resumes it; pages are idempotent, so a page done
// twice does no harm. Once a run is over, a DryRun counts what remains.
func Backfill[T any](ctx context.Context, p *Protector, opts BackfillOptions[T]) (BackfillReport, error) {
	rep := BackfillReport{Cursor: opts.After}
	if opts.Fetch == nil || (opts.Save == nil && !opts.DryRun) {
		return rep, fmt.Errorf("%w: Backfill needs Fetch and, unless DryRun, Save", ErrInvalidArgument)
	}
	rt := reflect.TypeFor[T]()
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if rt.Kind() != reflect.Struct {
		return rep, fmt.Errorf("%w: Backfill rows must be structs or pointers to structs, not %v", ErrInvalidArgument, reflect.TypeFor[T]())
	}
	if rp := planFor(rt); rp.err != nil {
		return rep, rp.err
	}
	limit := opts.BatchSize
	if limit <= 0 {
		limit = 500
	}
	after := opts.After
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rows, next, err := opts.Fetch(ctx, after, limit)
		if err != nil {
			return rep, fmt.Errorf("pii: backfill: fetch: %w", err)
		}
		if len(rows) == 0 {
			return rep, nil
		}
		changed, err := backfillPage(ctx, p, rows, opts.DryRun, &rep)
		if err != nil {
			return rep, err
		}
		if len(changed) > 0 && !opts.DryRun {
			n, err := opts.Save(ctx, changed)
			if err != nil {
				return rep, fmt.Errorf("pii: backfill: save: %w", err)
			}
			rep.Written += n
		}
		rep.Scanned += len(rows)
		rep.Cursor = next
		if opts.Progress != nil {
			opts.Progress(rep)
		}
		if next == "" {
			return rep, nil
		}
		after = next
	}
}

// Actions of a backfill job.
const (
	bfNone   = iota // current, or not ours (token fields)
	bfSeal          // a plaintext: seal it
	bfReseal        // a ciphertext under a retired key or an old format
)

// backfillPage does one page: it classifies every row, seals and re-seals
// what needs it (unless dry), and returns the rows it changed.
func backfillPage[T any](ctx context.Context, p *Protector, rows []T, dry bool, rep *BackfillReport) ([]T, error) {
	w := p.getWalker()
	defer p.putWalker(w)
	w.skipEmpty = true
	recs, _, err := w.collectEach(rows)
	if err != nil {
		return nil, err
	}
	acts := make([]uint8, len(w.jobs))
	failed := make([]error, len(recs))

	// Classify, before any key is fetched: plaintext or ciphertext.
	w.sizeCT()
	for r := range recs {
		rec := &recs[r]
		if rec.err != nil {
			failed[r] = rec.err
			continue
		}
		for i := rec.jobs[0]; i < rec.jobs[1]; i++ {
			j := &w.jobs[i]
			if err := w.classify(p, j, &acts[i]); err != nil {
				failed[r] = &FieldError{Path: w.jobPath(j), Op: "backfill", Err: err}
				break
			}
		}
	}

	// Keys: created for subjects with plaintext to seal, only read for
	// the others.
	keys, err := p.backfillKeys(ctx, w, recs, acts, failed, dry)
	if err != nil {
		return nil, err
	}

	// Decide and compute, record by record.
	primaries := map[*subjectkey.Keys]uint32{}
	var changed []T
	for r := range recs {
		rec := &recs[r]
		plaintext, old := false, false
		for i := rec.jobs[0]; i < rec.jobs[1] && failed[r] == nil; i++ {
			j := &w.jobs[i]
			if j.skip {
				continue
			}
			k, err := keys(j)
			if err != nil {
				failed[r] = &FieldError{Path: w.jobPath(j), Op: "backfill", Err: err}
				break
			}
			j.keys = k
			if acts[i] == bfNone {
				stale, err := w.stale(p, j, primaries)
				if err != nil {
					failed[r] = &FieldError{Path: w.jobPath(j), Op: "backfill", Err: err}
					break
				}
				if stale {
					acts[i] = bfReseal
				}
			}
			switch acts[i] {
			case bfSeal:
				plaintext = true
			case bfReseal:
				old = true
			}
			if dry || acts[i] == bfNone {
				continue
			}
			if err := w.backfillJob(j, acts[i]); err != nil {
				failed[r] = &FieldError{Path: w.jobPath(j), Op: "backfill", Err: err}
			}
		}
		switch {
		case failed[r] != nil:
			rep.Failed++
			if len(rep.Errors) < MaxBackfillErrors {
				rep.Errors = append(rep.Errors, failed[r])
			}
			continue
		case plaintext:
			rep.Plaintext++
		case old:
			rep.OldKey++
		default:
			rep.Current++
			continue
		}
		if dry {
			continue
		}
		for i := rec.jobs[0]; i < rec.jobs[1]; i++ {
			if acts[i] == bfNone {
				w.jobs[i].skip = true
			}
		}
		w.assignRange(w.jobs[rec.jobs[0]:rec.jobs[1]], w.defers[rec.defers[0]:rec.defers[1]])
		changed = append(changed, rows[rec.index])
	}
	return changed, nil
}

// classify decides whether job j is a plaintext to seal (and checks it as
// Seal would) or a ciphertext (and parses it); token fields are skipped.
func (w *walker) classify(p *Protector, j *job, act *uint8) error {
	if j.field.token != "" {
		j.skip = true
		return nil
	}
	var plaintext bool
	switch {
	case j.typed != 0:
		plaintext = j.in == "" // a Sealed value holding a plaintext
	case j.isBytes:
		plaintext = !envelope.IsSealedBinary(j.inBytes)
	default:
		plaintext = !envelope.IsSealedText(j.in)
	}
	if plaintext {
		*act = bfSeal
		return p.checkSeal(w, j)
	}
	if err := w.checkOpen(j); err != nil {
		return err
	}
	if err := w.parseJob(j, false); err != nil {
		return err
	}
	return w.checkBindingJob(p, j, "open")
}

// backfillKeys fetches the keys of every subject of the page that is not
// failed, in one batch where the KEK supports it, and returns the lookup
// of a job's keys. A subject that is forgotten, has no key or is empty
// fails its rows only; any other failure (the KMS or the store is down)
// fails the page.
func (p *Protector) backfillKeys(ctx context.Context, w *walker, recs []record, acts []uint8, failed []error, dry bool) (func(*job) (*subjectkey.Keys, error), error) {
	create := map[string]bool{}
	for r := range recs {
		if failed[r] != nil {
			continue
		}
		for i := recs[r].jobs[0]; i < recs[r].jobs[1]; i++ {
			j := &w.jobs[i]
			if j.skip || j.subject == "" || (dry && acts[i] == bfSeal) {
				continue
			}
			create[j.subject] = create[j.subject] || (acts[i] == bfSeal && !dry)
		}
	}
	got := map[string]keyResult{}
	if p.ring.batcher != nil {
		var misses [2][]string // not created, created
		for s, c := range create {
			if _, state := p.ring.cache.get(s); state == cacheMiss {
				i := 0
				if c {
					i = 1
				}
				misses[i] = append(misses[i], s)
			}
		}
		for i, m := range misses {
			if len(m) == 0 {
				continue
			}
			res, err := p.ring.getMany(ctx, m, i == 1)
			if err != nil {
				return nil, err
			}
			for s, r := range res {
				got[s] = r
			}
		}
	}
	for s, c := range create {
		if _, ok := got[s]; ok {
			continue
		}
		k, err := p.ring.get(ctx, s, c)
		got[s] = keyResult{keys: k, err: err}
	}
	for _, r := range got {
		if r.err != nil && !errors.Is(r.err, ErrForgotten) && !errors.Is(r.err, ErrKeyNotFound) {
			return nil, r.err
		}
	}
	return func(j *job) (*subjectkey.Keys, error) {
		if j.subject == "" {
			return nil, ErrNoSubject
		}
		r, ok := got[j.subject]
		if !ok {
			return nil, nil // a plaintext in a dry run: no key needed
		}
		return r.keys, r.err
	}, nil
}

// stale reports whether the parsed ciphertext of job j must be re-sealed:
// made with a retired AES-GCM key of its subject (deterministic keys are
// never rotated), or in another format than Seal would now use.
func (w *walker) stale(p *Protector, j *job, primaries map[*subjectkey.Keys]uint32) (bool, error) {
	if int(j.version) != w.sealVersion(j) {
		return true, nil
	}
	if j.mode != envelope.Randomized {
		return false, nil
	}
	primary, ok := primaries[j.keys]
	if !ok {
		// Tink writes the primary key's id after a version byte at the
		// start of each ciphertext it makes: encrypt nothing to read it.
		probe, err := j.keys.AEAD.Encrypt(nil, nil)
		if err != nil || len(probe) < 5 {
			return false, fmt.Errorf("pii: backfill: cannot tell the subject's current key")
		}
		primary = binary.BigEndian.Uint32(probe[1:5])
		primaries[j.keys] = primary
	}
	return binary.BigEndian.Uint32(j.ct[1:5]) != primary, nil
}

// backfillJob seals (bfSeal) or re-seals (bfReseal) job j, whose keys are
// set, into its output.
func (w *walker) backfillJob(j *job, act uint8) error {
	if act == bfReseal {
		w.ad = w.appendAD(w.ad[:0], j, int(j.version))
		var pt []byte
		var err error
		if j.mode == envelope.Deterministic {
			pt, err = j.keys.DAEAD.DecryptDeterministically(j.ct, w.ad)
		} else {
			pt, err = j.keys.AEAD.Decrypt(j.ct, w.ad)
		}
		if err != nil {
			return ErrAuthentication
		}
		switch {
		case j.typed != 0:
			// It must hold a value of the field's type: re-sealing
			// must not launder another type's value.
			slot := &w.typed[j.typed-1]
			if err := slot.codec.Decode(pt, reflect.New(slot.codec.Type()).Elem()); err != nil {
				clear(pt)
				return ErrTypeMismatch
			}
			j.inBytes = pt
		case j.isBytes:
			j.inBytes = pt
		default:
			j.in = string(pt)
			clear(pt)
		}
	}
	return w.sealJob(j)
}
