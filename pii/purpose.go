package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/mask"
)

// Purposes: which fields an Open opens, for whom (see "Purposes, masks and
// consent" in the package documentation).
//
// The hook sits at the front of Seal and Open, after the walk collected
// the values and before anything is parsed, fetched or decrypted (gate):
// it checks the purposes of the type's tags and of the context, decides
// each field once per call (tags, then the Policy), marks the values to
// leave sealed (skipped: their keys are not even fetched) or to mask
// (opened, then masked before anything is assigned), and, for a purpose
// that needs consent, asks the consent view about each subject. On Seal it
// refuses masked values in fields with a mask. Types without purpose= or
// mask=, opened by a Protector without purposes or a policy, pay one test
// of two flags.

// Purpose is a purpose declared to a Protector with WithPurposes: a name
// ([a-z][a-z0-9_-]{0,63}, the grammar of consent purposes) and whether
// Open for it needs the subject's consent (GrantConsent).
type Purpose struct {
	Name         string
	NeedsConsent bool
}

// Errors of purposes, masks and policies. Match them with errors.Is; the
// *PurposeError wrapping the first three names the purpose.
var (
	// ErrUnknownPurpose: a tag or the context (WithAccess) names a
	// purpose that was not declared with WithPurposes.
	ErrUnknownPurpose = errors.New("pii: unknown purpose")

	// ErrNoPurpose: Open without a purpose in the context, on a Protector
	// that requires one (the default once purposes are declared; see
	// WithPurposeRequired).
	ErrNoPurpose = errors.New("pii: no purpose stated")

	// ErrNoConsent: Open for a purpose declared NeedsConsent, of a subject
	// who has not granted it (or withdrew it).
	ErrNoConsent = errors.New("pii: no consent for this purpose")

	// ErrMasked: Seal met a masked value (one containing mask.Rune) in a
	// field with mask=: a record opened for display, being saved back.
	ErrMasked = errors.New("pii: value is masked")

	// ErrPolicy: the Policy panicked. Nothing was opened.
	ErrPolicy = errors.New("pii: access policy failed")
)

// PurposeError reports a purpose that cannot be used: an unknown one in a
// tag (Type and Field say where) or in the context, none at all
// (ErrNoPurpose, Purpose empty), or one the subject did not consent to
// (ErrNoConsent). It never names the subject.
type PurposeError struct {
	Purpose string
	Type    reflect.Type // the struct type whose tag names Purpose; nil for the context's
	Field   string       // the Go field whose tag names Purpose
	Err     error        // ErrUnknownPurpose, ErrNoPurpose or ErrNoConsent
}

func (e *PurposeError) Error() string {
	switch {
	case e.Err == ErrNoPurpose:
		return "pii: open: the context states no purpose (pii.WithAccess) and this Protector requires one"
	case e.Err == ErrNoConsent:
		return fmt.Sprintf("pii: purpose %q: the subject has not consented to it", e.Purpose)
	case e.Type != nil:
		return fmt.Sprintf("pii: field %v.%s: purpose %q is not declared (pii.WithPurposes)", e.Type, e.Field, e.Purpose)
	}
	return fmt.Sprintf("pii: purpose %q is not declared (pii.WithPurposes)", e.Purpose)
}

func (e *PurposeError) Unwrap() error { return e.Err }

// WithPurposes declares the purposes this Protector's callers may state
// (WithAccess) and its types' tags may name. Tags naming another purpose
// fail Seal and Open of their type with a *PurposeError
// (ErrUnknownPurpose), the first time and every time; so does an Open
// whose context names another purpose. Once purposes are declared, Open
// without a purpose fails with ErrNoPurpose, unless
// WithPurposeRequired(false). Purposes declared NeedsConsent need a key
// store that implements keystore.ConsentStore.
func WithPurposes(purposes ...Purpose) Option {
	return func(c *config) error {
		if len(purposes) == 0 {
			return fmt.Errorf("%w: WithPurposes needs at least one purpose", ErrInvalidArgument)
		}
		for _, p := range purposes {
			if keystore.ValidatePurpose(p.Name) != nil {
				return fmt.Errorf("%w: purpose %q: a purpose is a lowercase letter, then up to 63 lowercase letters, digits, '_' or '-'", ErrInvalidArgument, p.Name)
			}
		}
		c.purposes = append(c.purposes, purposes...)
		return nil
	}
}

// WithPurposeRequired says whether Open without a purpose in the context
// fails with ErrNoPurpose (true) or opens the fields without purpose=
// (false: fields with purpose= stay sealed, or show their mask). The
// default is true for a Protector with WithPurposes, and false for one
// without (which opens every field, as before purposes existed, and
// checks no purpose its callers state).
func WithPurposeRequired(required bool) Option {
	return func(c *config) error { c.purposeRequired = &required; return nil }
}

// purposeConfig is a Protector's purposes, policy and requirement; nil
// for a Protector with none of them.
type purposeConfig struct {
	declared map[string]bool // name -> NeedsConsent; nil: none declared
	required bool
	policy   Policy
	checked  sync.Map // *structPlan (root) -> error of checkTagPurposes
}

func newPurposeConfig(c *config, store keystore.Store) (*purposeConfig, error) {
	pc := &purposeConfig{policy: c.policy}
	consent := false
	if c.purposes != nil {
		pc.declared = make(map[string]bool, len(c.purposes))
		for _, p := range c.purposes {
			if _, dup := pc.declared[p.Name]; dup {
				return nil, fmt.Errorf("%w: purpose %q declared twice", ErrInvalidArgument, p.Name)
			}
			pc.declared[p.Name] = p.NeedsConsent
			consent = consent || p.NeedsConsent
		}
		pc.required = true
	}
	if c.purposeRequired != nil {
		pc.required = *c.purposeRequired
	}
	if consent {
		if _, ok := store.(keystore.ConsentStore); !ok {
			return nil, &UnsupportedStoreError{Need: "keystore.ConsentStore"}
		}
	}
	if pc.declared == nil && !pc.required && pc.policy == nil {
		return nil, nil
	}
	return pc, nil
}

// CheckPurposes reports whether every purpose named by the tags of T (a
// struct type, or a pointer to one, and every type it reaches) is one of
// purposes: nil, T's *TagError, or a *PurposeError (ErrUnknownPurpose) for
// each purpose not in the list, joined. Call it at start-up with the names
// given to WithPurposes, to fail fast.
func CheckPurposes[T any](purposes ...string) error {
	if err := Check[T](); err != nil {
		return err
	}
	for _, p := range purposes {
		if keystore.ValidatePurpose(p) != nil {
			return fmt.Errorf("%w: purpose %q: a purpose is a lowercase letter, then up to 63 lowercase letters, digits, '_' or '-'", ErrInvalidArgument, p)
		}
	}
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return checkTagPurposes(planFor(t).st, func(p string) bool { return slices.Contains(purposes, p) })
}

// Values of job.acl: what the purpose hook decided for the job.
const (
	aclOpen    uint8 = iota // open it (and any job of a call without purposes)
	aclMasked               // open it, then mask it (openJob)
	aclRefused              // leave it sealed (job.skip is set too)
)

// purposeWork is the walker's state for the purpose hook.
type purposeWork struct {
	// active: a struct walked reaches a field with purpose= or mask=.
	active bool
	// decs are this call's decisions, by field plan.
	decs []fieldDec
}

type fieldDec struct {
	f *fieldPlan
	d Decision
}

func (pw *purposeWork) reset() {
	pw.active = false
	if len(pw.decs) > 0 {
		clear(pw.decs)
		pw.decs = pw.decs[:0]
	}
}

// gate is the purpose hook of Seal and Open (op), after the walk of v
// collected w.jobs and before anything else.
func (p *Protector) gate(ctx context.Context, w *walker, op string, v any) error {
	if p.pur == nil && !w.pur.active {
		return nil
	}
	return p.gateJobs(ctx, w, op, v, nil)
}

// gateEach is gate for OpenEach: a subject without consent fails its own
// records (in errs), not the call.
func (p *Protector) gateEach(ctx context.Context, w *walker, v any, recs []record, errs []error) error {
	if p.pur == nil && !w.pur.active {
		return nil
	}
	return p.gateJobs(ctx, w, "open", v, func(i int, err error) {
		r := sort.Search(len(recs), func(r int) bool { return recs[r].jobs[1] > i })
		if r < len(recs) && errs[recs[r].index] == nil {
			errs[recs[r].index] = err
		}
	})
}

// gateJobs is the work of gate. fail, if not nil, takes the failure of job
// i for want of consent; otherwise that failure is returned.
func (p *Protector) gateJobs(ctx context.Context, w *walker, op string, v any, fail func(i int, err error)) error {
	pc := p.pur
	if err := p.checkTypePurposes(v, op); err != nil {
		return err
	}
	if op == "seal" {
		if w.pur.active {
			return w.checkMasked()
		}
		return nil
	}
	a, _ := AccessFrom(ctx)
	needsConsent := false
	if pc != nil {
		if a.Purpose == "" && pc.required {
			return &PurposeError{Err: ErrNoPurpose}
		}
		if pc.declared != nil && a.Purpose != "" {
			nc, ok := pc.declared[a.Purpose]
			if !ok {
				return &PurposeError{Purpose: a.Purpose, Err: ErrUnknownPurpose}
			}
			needsConsent = nc
		}
	}
	if w.pur.active || (pc != nil && pc.policy != nil) {
		if err := p.decide(ctx, w, a); err != nil {
			return err
		}
	}
	if needsConsent {
		return p.checkConsent(ctx, w, a.Purpose, fail)
	}
	return nil
}

// checkTypePurposes checks the purposes named by the tags of v's type:
// against those declared, or, on a Protector without purposes, on Open
// only, refusing them all (an Open that ignored them would open fields
// their tags keep from most callers).
func (p *Protector) checkTypePurposes(v any, op string) error {
	rp := rootPlanOf(v)
	if rp == nil || rp.err != nil || !rp.st.aclReach {
		return nil
	}
	pc := p.pur
	if pc == nil || pc.declared == nil {
		if op == "seal" {
			return nil
		}
		return checkTagPurposes(rp.st, func(string) bool { return false })
	}
	if err, ok := pc.checked.Load(rp.st); ok {
		if err == nil {
			return nil
		}
		return err.(error)
	}
	err := checkTagPurposes(rp.st, func(name string) bool { _, ok := pc.declared[name]; return ok })
	pc.checked.Store(rp.st, err)
	return err
}

// rootPlanOf returns the plan of the struct type of v (a pointer to a
// struct, or a slice of structs or pointers to them, or a pointer to such a
// slice), or nil.
func rootPlanOf(v any) *rootPlan {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		t = t.Elem()
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return planFor(t)
}

// checkMasked refuses, on Seal, a masked value in a field with a mask.
func (w *walker) checkMasked() error {
	for i := range w.jobs {
		j := &w.jobs[i]
		if acl := j.field.acl; acl != nil && acl.mask != "" && !j.isBytes && j.typed == 0 && mask.IsMasked(j.in) {
			return &FieldError{Path: w.jobPath(j), Op: "seal", Err: ErrMasked}
		}
	}
	return nil
}

// decide marks each job of Open with what its field's tags and the policy
// decide for a.
func (p *Protector) decide(ctx context.Context, w *walker, a Access) error {
	var policy Policy
	if p.pur != nil {
		policy = p.pur.policy
	}
	for i := range w.jobs {
		j := &w.jobs[i]
		d, err := w.pur.decision(ctx, policy, a, j.field)
		if err != nil {
			return &FieldError{Path: w.jobPath(j), Op: "open", Err: err}
		}
		switch d {
		case Refused:
			j.acl, j.skip = aclRefused, true
		case Masked:
			j.acl = aclMasked
		}
	}
	return nil
}

// decision returns the Decision for field f in this call, asking the
// policy the first time.
func (pw *purposeWork) decision(ctx context.Context, policy Policy, a Access, f *fieldPlan) (Decision, error) {
	for i := range pw.decs {
		if pw.decs[i].f == f {
			return pw.decs[i].d, nil
		}
	}
	acl := f.acl
	if acl == nil {
		acl = &fieldACL{field: f.goName}
	}
	d := tagDecision(acl, a.Purpose)
	if policy != nil {
		pol, err := callPolicy(ctx, policy, a, FieldInfo{
			Type: acl.typ, Field: acl.field, Name: f.name,
			Purposes: slices.Clone(acl.purposes), Mask: acl.mask, Tag: d,
		})
		if err != nil {
			return Refused, err
		}
		d = combine(d, pol, acl)
	}
	pw.decs = append(pw.decs, fieldDec{f: f, d: d})
	return d, nil
}

// tagDecision is what the tags of a field decide for purpose: a field
// without purpose= opens for every purpose (and for none); one with
// purpose= opens for those it lists, and shows its mask, if it has one, to
// everyone else.
func tagDecision(acl *fieldACL, purpose string) Decision {
	switch {
	case len(acl.purposes) == 0 || slices.Contains(acl.purposes, purpose):
		return Opened
	case acl.mask != "":
		return Masked
	}
	return Refused
}

// checkConsent asks the consent view whether each subject of the jobs
// still to open consents to purpose. A value of a scope=global token
// without a subject in reach has nobody to ask: it stays sealed.
func (p *Protector) checkConsent(ctx context.Context, w *walker, purpose string, fail func(i int, err error)) error {
	view := p.ring.consent
	if view == nil {
		return &UnsupportedStoreError{Need: "keystore.ConsentStore"}
	}
	var last string
	var lastOK bool
	var seen map[string]bool
	for i := range w.jobs {
		j := &w.jobs[i]
		if j.acl == aclRefused {
			continue
		}
		if j.subject == "" {
			if j.field.global {
				j.acl, j.skip = aclRefused, true
			}
			continue // no subject: resolveKeys reports it
		}
		ok := lastOK
		if j.subject != last || last == "" {
			if known, found := seen[j.subject]; found {
				ok = known
			} else {
				ids, err := p.ring.addresses(j.subject)
				if err == nil {
					ok, err = view.granted(ctx, ids, purpose)
				}
				if err != nil {
					return &FieldError{Path: w.jobPath(j), Op: "open", Err: err}
				}
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[j.subject] = ok
			}
			last, lastOK = j.subject, ok
		}
		if !ok {
			err := &FieldError{Path: w.jobPath(j), Op: "open", Err: &PurposeError{Purpose: purpose, Err: ErrNoConsent}}
			if fail == nil {
				return err
			}
			fail(i, err)
		}
	}
	return nil
}
