package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// OpenEach opens every struct of a slice, as OpenAll does, but record by
// record: each record is either opened or left exactly as it was, with its
// own error in errs. One forgotten subject, one tampered value or one
// record without a subject then fails only its own record, and the rest of
// the page still opens. v is a []T, []*T or a pointer to either, with T a
// struct type.
//
// errs has one entry per element of v: nil for a record that opened (and
// for a nil element, which is left alone), otherwise a *FieldError whose
// Path starts with the record's index, such as "Customer[3].Name", wrapping
// ErrForgotten, ErrAuthentication, ErrKeyNotFound, ErrNotSealed and so on.
// Each record is all-or-nothing on its own; values that two records share
// (the same pointer, slice or map) are opened once per record.
//
// The keys of all subjects missing from the cache are fetched together, as
// for OpenAll. err reports a failure of the whole call, which then changed
// nothing and returns no errs: v is not a slice of structs, T's tags are
// invalid, the batched key fetch failed as a whole (the KMS or the key
// store is unreachable), or ctx ended.
//
// With WithErasedPlaceholder, records of forgotten subjects open to the
// placeholder, as with Open, rather than failing.
func (p *Protector) OpenEach(ctx context.Context, v any) (errs []error, err error) {
	if errs, err = p.openEach(ctx, v, indexOff); err != nil && p.auditor != nil {
		var ae *AuditError
		if !errors.As(err, &ae) {
			err = p.auditCall(ctx, audit.OpOpen, v, true, err) // audit.go
		}
	}
	return errs, err
}

// openEach is OpenEach; with mode indexMatch, records of forgotten
// subjects fail even with a placeholder (Matches drops them).
func (p *Protector) openEach(ctx context.Context, v any, mode indexMode) (errs []error, err error) {
	w := p.getWalker()
	defer p.putWalker(w)
	w.skipEmpty = true
	w.ix.mode = mode
	const op = "open"
	recs, n, err := w.collectEach(v)
	if err != nil {
		return nil, err
	}
	errs = make([]error, n)
	fail := func(r *record, err error) {
		if errs[r.index] == nil {
			errs[r.index] = err
		}
	}
	for i := range recs {
		if recs[i].err != nil {
			errs[recs[i].index] = recs[i].err
		}
	}
	if err := p.gateEach(ctx, w, v, recs, errs); err != nil { // purpose.go
		return nil, err
	}

	// Length limits and parsing, per record.
	w.sizeCT()
	for r := range recs {
		rec := &recs[r]
		for i := rec.jobs[0]; i < rec.jobs[1] && errs[rec.index] == nil; i++ {
			j := &w.jobs[i]
			err := w.checkOpen(j)
			if err == nil {
				err = w.parseJob(j, p.migration)
			}
			if err != nil {
				fail(rec, &FieldError{Path: w.jobPath(j), Op: op, Err: err})
			}
		}
	}

	for r := range recs { // vault.go: which tokens are vaulted
		rec := &recs[r]
		if errs[rec.index] == nil {
			if i, err := w.routeJobs(op, rec.jobs[0], rec.jobs[1]); err != nil {
				fail(rec, &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err})
			}
		}
	}

	if err := p.resolveEach(ctx, w, recs, errs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	for r := range recs {
		rec := &recs[r]
		for i := rec.jobs[0]; i < rec.jobs[1] && errs[rec.index] == nil; i++ {
			j := &w.jobs[i]
			if err := p.transform(w, j, op); err != nil {
				fail(rec, &FieldError{Path: w.jobPath(j), Op: op, Err: err})
			}
		}
	}
	if len(w.vt.items) > 0 { // vault.go: one batched store step
		if err := p.vaultEach(ctx, w, recs, errs); err != nil {
			return nil, err
		}
	}
	if p.auditor != nil { // audit.go: before anything is assigned
		if err := p.auditEach(ctx, w, v, recs, errs); err != nil {
			return nil, err
		}
	}
	for r := range recs {
		rec := &recs[r]
		if errs[rec.index] == nil {
			w.assignRange(w.jobs[rec.jobs[0]:rec.jobs[1]], w.defers[rec.defers[0]:rec.defers[1]])
		}
	}
	return errs, nil
}

// record is one element of the slice given to OpenEach: its jobs and
// deferred assignments are w.jobs[jobs[0]:jobs[1]] and
// w.defers[defers[0]:defers[1]].
type record struct {
	index  int
	jobs   [2]int
	defers [2]int
	err    error // the walk of the record failed (a cycle, ...): it has no jobs
}

// collectEach is phase 1 of OpenEach: collect walks v record by record,
// keeping each record's jobs apart. n is the length of the slice.
func (w *walker) collectEach(v any) (recs []record, n int, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Slice {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Slice {
		return nil, 0, fmt.Errorf("%w: want a slice of structs or of pointers to structs, got %T", ErrInvalidArgument, v)
	}
	et := rv.Type().Elem()
	byPtr := et.Kind() == reflect.Pointer
	if byPtr {
		et = et.Elem()
	}
	if et.Kind() != reflect.Struct {
		return nil, 0, fmt.Errorf("%w: want a slice of structs or of pointers to structs, got %T", ErrInvalidArgument, v)
	}
	rp := planFor(et)
	if rp.err != nil {
		return nil, 0, rp.err
	}
	root := w.push(-1, rp.st.name, -1)
	for i := 0; i < rv.Len(); i++ {
		e := rv.Index(i)
		if byPtr {
			if e.IsNil() {
				continue
			}
			e = e.Elem()
		}
		// Each record is walked on its own: values it shares with
		// another record get their own copies, so that one record
		// failing cannot leave another holding an unopened copy.
		w.resetMemo()
		w.inspect.reset()
		rec := record{index: i, jobs: [2]int{len(w.jobs), 0}, defers: [2]int{len(w.defers), 0}}
		w.walkStruct(e, rp.st, rp.st.scope, "", binding{}, w.push(root, "", int32(i)), false)
		if w.err != nil {
			if fe, ok := w.err.(*FieldError); ok {
				fe.Op = "open"
			}
			rec.err, w.err = w.err, nil
			clear(w.jobs[rec.jobs[0]:])
			w.jobs = w.jobs[:rec.jobs[0]]
			clear(w.defers[rec.defers[0]:])
			w.defers = w.defers[:rec.defers[0]]
		}
		rec.jobs[1], rec.defers[1] = len(w.jobs), len(w.defers)
		recs = append(recs, rec)
	}
	return recs, rv.Len(), nil
}

// resolveEach is resolveKeys for OpenEach: a subject whose keys cannot be
// had fails its records only. It returns an error only when the batched
// fetch fails as a whole.
func (p *Protector) resolveEach(ctx context.Context, w *walker, recs []record, errs []error) error {
	const op = "open"
	var batch map[string]keyResult
	if p.ring.batcher != nil {
		var misses []string
		seen := map[string]bool{}
		for r := range recs {
			if errs[recs[r].index] != nil {
				continue
			}
			for i := recs[r].jobs[0]; i < recs[r].jobs[1]; i++ {
				j := &w.jobs[i]
				s := j.subject
				if s == "" || seen[s] || j.skip || j.field.global {
					continue
				}
				seen[s] = true
				if _, state := p.ring.cache.get(s); state == cacheMiss {
					misses = append(misses, s)
				}
			}
		}
		if len(misses) > 0 {
			var err error
			if batch, err = p.ring.getMany(ctx, misses, false); err != nil {
				return err
			}
		}
	}
	var lastSubject string
	var lastKeys *subjectkey.Keys
	var lastErr error
	for r := range recs {
		rec := &recs[r]
		for i := rec.jobs[0]; i < rec.jobs[1] && errs[rec.index] == nil; i++ {
			j := &w.jobs[i]
			if j.skip {
				continue
			}
			if j.field.global {
				j.keys = p.ring.global
				continue
			}
			subject := j.subject
			if subject == "" {
				errs[rec.index] = &FieldError{Path: w.jobPath(j), Op: op, Err: ErrNoSubject}
				break
			}
			if lastKeys == nil && lastErr == nil || subject != lastSubject {
				lastSubject = subject
				if res, ok := batch[subject]; ok {
					lastKeys, lastErr = res.keys, res.err
				} else {
					lastKeys, lastErr = p.ring.get(ctx, subject, false)
				}
			}
			if lastErr != nil {
				if p.placeholder != nil && w.ix.mode != indexMatch && errors.Is(lastErr, ErrForgotten) {
					j.keys = nil
					continue
				}
				errs[rec.index] = &FieldError{Path: w.jobPath(j), Op: op, Err: lastErr}
				break
			}
			j.keys = lastKeys
		}
	}
	return nil
}
