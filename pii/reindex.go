package pii

import (
	"context"
	"fmt"
	"reflect"
)

// Reindex recomputes the index fields of sealed records under the index
// key version Seal writes now (the newest active one), in place, and
// returns how many records changed.
// It opens each record's sources in memory to compute the terms and writes
// nothing but the index fields: ciphertexts and tokens are untouched (values
// reached through pointers, slices and maps are replaced by copies, as Seal
// does). An index whose sources belong to a forgotten subject is cleared
// (its term was the only trace left; see SurvivingFields). records is a
// []T with T a struct type or a pointer to one (nil elements are skipped).
//
// It fails on the first record that cannot be opened for another reason
// (a *FieldError with Op "reindex"); records before it are re-indexed,
// that record and those after it are left as they were.
func Reindex[T any](ctx context.Context, p *Protector, records []T) (changed int, err error) {
	for i := range records {
		v := reflect.ValueOf(&records[i]).Elem()
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				continue
			}
		} else {
			v = v.Addr()
		}
		if v.Elem().Kind() != reflect.Struct {
			return changed, fmt.Errorf("%w: Reindex wants records of a struct type, got %T", ErrInvalidArgument, records)
		}
		ch, err := p.reindex1(ctx, v.Interface())
		if err != nil {
			return changed, err
		}
		if ch {
			changed++
		}
	}
	return changed, nil
}

// reindex1 re-indexes the struct v points to.
func (p *Protector) reindex1(ctx context.Context, v any) (bool, error) {
	const op = "reindex"
	w := p.getWalker()
	defer p.putWalker(w)
	w.skipEmpty = !p.encryptEmpty // for the index rule; Open jobs skip empty values below
	w.ix.mode = indexReindex
	if err := w.collect(v, false); err != nil {
		if fe, ok := err.(*FieldError); ok {
			fe.Op = op
		}
		return false, err
	}
	if len(w.ix.jobs) == 0 {
		return false, nil
	}
	if !w.skipEmpty {
		// Empty sealed values were collected as jobs: they are empty
		// plaintext (Open leaves empty values empty).
		kept := w.jobs[:0]
		for _, j := range w.jobs {
			if (j.isBytes && len(j.inBytes) > 0) || (!j.isBytes && j.in != "") {
				kept = append(kept, j)
			}
		}
		clear(w.jobs[len(kept):])
		w.jobs = kept
	}
	if i, err := w.parseAll(p.migration); err != nil {
		return false, &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err}
	}
	if err := p.resolveKeys(ctx, w, "open", false); err != nil {
		if fe, ok := err.(*FieldError); ok {
			fe.Op = op
		}
		return false, err
	}
	for i := range w.jobs {
		j := &w.jobs[i]
		if err := w.checkBindingJob(p, j, "open"); err != nil {
			return false, &FieldError{Path: w.jobPath(j), Op: op, Err: err}
		}
		if j.skip || j.keys == nil {
			continue
		}
		if err := w.openJob(j); err != nil {
			return false, &FieldError{Path: w.jobPath(j), Op: op, Err: err}
		}
	}
	w.resolveSources()
	if err := p.computeIndexes(ctx, w, op, false); err != nil {
		return false, err
	}
	changed := w.indexesChanged()
	// Only the index fields are written (and the copies attached), never
	// the opened values.
	w.assignIndexes()
	w.assignRange(nil, w.defers)
	return changed, nil
}

// ReindexOptions configure ReindexAll.
type ReindexOptions struct {
	// BatchSize is how many records each fetch asks for (default: the
	// Protector's batch size, DefaultBatchSize).
	BatchSize int
	// After is the cursor to resume from: "" to start at the beginning, or
	// the After of the progress an interrupted run returned.
	After string
	// Progress, if not nil, is called after each saved batch.
	Progress func(ReindexProgress)
}

// ReindexProgress reports how far ReindexAll got.
type ReindexProgress struct {
	Done    int    // records re-indexed and saved
	Changed int    // records whose index fields changed
	After   string // the cursor after the last saved batch: resume from it
}

// ReindexAll re-indexes a whole table in resumable batches, for the
// rotation of the index key (see "Search" in the package doc). fetch
// returns up to limit records after the cursor after (in a stable order,
// such as the primary key) and the cursor of the last one; save writes the
// batch back (it may write the index columns only: nothing else changed).
// It stops when fetch returns no records or an empty cursor, and returns
// the progress made; after an error, run it again with
// ReindexOptions.After set to the returned After: batches are re-indexed
// again harmlessly.
//
// Seal keeps working meanwhile: a record sealed by another process during
// the run is written with the newest version already.
//
// While the newest global index key version is not active yet (after
// RotateIndexKey, for the activation delay), re-indexing would write the
// old version again: ReindexAll then fails at once, before fetching
// anything, with an *IndexKeyNotActiveError (ErrIndexKeyNotActive) whose
// ActiveAt says when to run it.
func ReindexAll[T any](ctx context.Context, p *Protector,
	fetch func(ctx context.Context, after string, limit int) (records []T, next string, err error),
	save func(ctx context.Context, records []T) error, opts ReindexOptions) (ReindexProgress, error) {
	prog := ReindexProgress{After: opts.After}
	limit := opts.BatchSize
	if limit <= 0 {
		limit = p.ring.batchSize
	}
	// Write with the newest version this store has, not this process's
	// possibly older snapshot, and only once it is active.
	ir, err := p.indexRoots(ctx, true)
	if err != nil {
		return prog, err
	}
	if err := p.checkIndexKeyActive(ir); err != nil {
		return prog, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return prog, err
		}
		recs, next, err := fetch(ctx, prog.After, limit)
		if err != nil {
			return prog, fmt.Errorf("pii: reindex: fetch: %w", err)
		}
		if len(recs) == 0 {
			return prog, nil
		}
		n, err := Reindex(ctx, p, recs)
		if err != nil {
			return prog, err
		}
		if err := save(ctx, recs); err != nil {
			return prog, fmt.Errorf("pii: reindex: save: %w", err)
		}
		prog.Done += len(recs)
		prog.Changed += n
		prog.After = next
		if opts.Progress != nil {
			opts.Progress(prog)
		}
		if next == "" {
			return prog, nil
		}
	}
}
