package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// Seal encrypts, in place, every tagged field of the struct v points to,
// creating the subject's key on first use. It is all-or-nothing: on error v
// is exactly as it was. Values reached through pointers, slices and maps are
// replaced by sealed copies, never modified where they are shared.
func (p *Protector) Seal(ctx context.Context, v any) error {
	return p.run(ctx, "seal", v, false)
}

// Open decrypts, in place, every tagged field of the struct v points to.
// Empty values are left empty. It is all-or-nothing: on error v is exactly
// as it was. Fields of a forgotten subject fail with ErrForgotten, unless
// the Protector has WithErasedPlaceholder.
func (p *Protector) Open(ctx context.Context, v any) error {
	return p.run(ctx, "open", v, false)
}

// SealAll seals every struct of a slice: v is a []T, []*T or a pointer to
// either, with T a struct type (nil elements are skipped). The keys of all
// subjects missing from the cache are fetched together, in one KMS round
// trip per batch where the KEK supports it. All-or-nothing over the whole
// slice.
func (p *Protector) SealAll(ctx context.Context, v any) error {
	return p.run(ctx, "seal", v, true)
}

// OpenAll opens every struct of a slice, as SealAll seals them.
func (p *Protector) OpenAll(ctx context.Context, v any) error {
	return p.run(ctx, "open", v, true)
}

func (p *Protector) run(ctx context.Context, op string, v any, many bool) error {
	w := p.getWalker()
	defer p.putWalker(w)
	if err := p.walk(ctx, w, op, v, many); err != nil {
		if p.auditor != nil { // audit.go
			return p.auditWalk(ctx, w, op, v, many, err)
		}
		return err
	}
	return nil
}

func (p *Protector) walk(ctx context.Context, w *walker, op string, v any, many bool) error {
	w.skipEmpty = op == "open" || !p.encryptEmpty
	if op == "seal" {
		w.ix.mode = indexSeal
	}
	if err := w.collect(v, many); err != nil {
		if fe, ok := err.(*FieldError); ok {
			fe.Op = op
		}
		return err
	}
	if err := p.gate(ctx, w, op, v); err != nil { // purpose.go: before anything is parsed or fetched
		return err
	}
	if len(w.jobs) == 0 && len(w.ix.jobs) == 0 {
		return p.audited(ctx, w, op, v, many) // audit.go
	}
	// Before any key is fetched or created: bad input changes nothing.
	if op == "open" {
		if i, err := w.parseAll(p.migration); err != nil {
			return &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err}
		}
	} else {
		for i := range w.jobs {
			if w.sealChecked(&w.jobs[i]) {
				continue
			}
			if err := p.checkSeal(w, &w.jobs[i]); err != nil {
				return &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err}
			}
		}
	}
	// Which token values go to the vault (vault.go), also before any key.
	if i, err := w.routeJobs(op, 0, len(w.jobs)); err != nil {
		return &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err}
	}
	if err := p.resolveKeys(ctx, w, op, many); err != nil {
		return err
	}
	if len(w.ix.jobs) > 0 {
		// From the plaintext collected in phase 1, before it is encrypted.
		if err := p.computeIndexes(ctx, w, op, true); err != nil {
			return err
		}
	}
	for i := range w.jobs {
		j := &w.jobs[i]
		if err := p.transform(w, j, op); err != nil {
			return &FieldError{Path: w.jobPath(j), Op: op, Err: err}
		}
	}
	if len(w.vt.items) > 0 { // vault.go: one batched store step
		if err := p.vaultStep(ctx, w, op); err != nil {
			return err
		}
	}
	if err := p.audited(ctx, w, op, v, many); err != nil { // audit.go: before anything is assigned
		return err
	}
	w.assign()
	return nil
}

func (p *Protector) transform(w *walker, j *job, op string) error {
	if op == "open" {
		if err := w.checkBindingJob(p, j, op); err != nil {
			return err
		}
	}
	switch {
	case op == "seal" && j.vault != 0:
		return nil // vault.go: in one batch after every transform
	case op == "seal":
		return w.sealJob(j)
	case j.skip:
		return nil
	case j.keys == nil: // forgotten subject, with a placeholder
		if j.isBytes {
			j.outBytes = []byte(*p.placeholder)
		} else {
			j.outStr = *p.placeholder
		}
		return nil
	case j.vault != 0:
		return nil // vault.go
	}
	return w.openJob(j)
}

// resolveKeys fills in every job's keys. On Open, jobs of forgotten
// subjects get nil keys when the Protector has a placeholder.
func (p *Protector) resolveKeys(ctx context.Context, w *walker, op string, many bool) error {
	create := op == "seal"
	var batch map[string]keyResult
	if many && p.ring.batcher != nil {
		var misses []string
		seen := map[string]bool{}
		for i := range w.jobs {
			s := w.jobs[i].subject
			if s == "" || seen[s] || w.jobs[i].skip || w.jobs[i].field.global {
				continue
			}
			seen[s] = true
			if _, state := p.ring.cache.get(s); state == cacheMiss {
				misses = append(misses, s)
			}
		}
		if len(misses) > 0 {
			var err error
			if batch, err = p.ring.getMany(ctx, misses, create); err != nil {
				return err
			}
		}
	}
	var lastSubject string
	var lastKeys *subjectkey.Keys
	var lastErr error
	for i := range w.jobs {
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
			return &FieldError{Path: w.jobPath(j), Op: op, Err: ErrNoSubject}
		}
		if lastKeys == nil && lastErr == nil || subject != lastSubject {
			lastSubject = subject
			if r, ok := batch[subject]; ok {
				lastKeys, lastErr = r.keys, r.err
			} else {
				lastKeys, lastErr = p.ring.get(ctx, subject, create)
			}
		}
		if lastErr != nil {
			if op == "open" && (p.placeholder != nil || w.ix.mode == indexReindex) && errors.Is(lastErr, ErrForgotten) {
				j.keys = nil
				continue
			}
			return &FieldError{Path: w.jobPath(j), Op: op, Err: lastErr}
		}
		j.keys = lastKeys
	}
	return nil
}

// collect is phase 1 for the value passed to Seal, Open or their batch
// variants: a pointer to a struct, or a slice ([]T, []*T or a pointer to
// either) of structs.
func (w *walker) collect(v any, many bool) error {
	rv := reflect.ValueOf(v)
	if !many {
		if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
			return fmt.Errorf("%w: want a non-nil pointer to a struct, got %T", ErrInvalidArgument, v)
		}
		t := rv.Elem().Type()
		rp := w.lastPlan
		if t != w.lastType || rp == nil {
			rp = planFor(t)
			w.lastType, w.lastPlan = t, rp
		}
		if rp.err != nil {
			return rp.err
		}
		w.walkStruct(rv.Elem(), rp.st, rp.st.scope, "", binding{}, w.push(-1, rp.st.name, -1), false)
		return w.err
	}
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Slice {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Slice {
		return fmt.Errorf("%w: want a slice of structs or of pointers to structs, got %T", ErrInvalidArgument, v)
	}
	et := rv.Type().Elem()
	byPtr := et.Kind() == reflect.Pointer
	if byPtr {
		et = et.Elem()
	}
	if et.Kind() != reflect.Struct {
		return fmt.Errorf("%w: want a slice of structs or of pointers to structs, got %T", ErrInvalidArgument, v)
	}
	rp := planFor(et)
	if rp.err != nil {
		return rp.err
	}
	root := w.push(-1, rp.st.name, -1)
	for i := 0; i < rv.Len() && w.err == nil; i++ {
		e := rv.Index(i)
		if byPtr {
			if e.IsNil() {
				continue
			}
			e = e.Elem()
		}
		w.walkStruct(e, rp.st, rp.st.scope, "", binding{}, w.push(root, "", int32(i)), false)
	}
	return w.err
}

func (p *Protector) getWalker() *walker {
	if w, ok := p.walkers.Get().(*walker); ok {
		return w
	}
	return &walker{lim: p.limits()}
}

func (p *Protector) putWalker(w *walker) {
	w.reset()
	p.walkers.Put(w)
}
