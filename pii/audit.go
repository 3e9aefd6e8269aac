package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/kms"
)

// Audit hooks. Every Seal, SealAll, Open, OpenAll and OpenEach, and every
// Forget, RequestErasure, Readmit, key rotation, expiry sweep, hold and
// consent change, hands one audit.Event to the Protector's Auditor
// (WithAuditor). The event holds the type's scope, field paths, counts,
// keyed subject references (record IDs), the actor and purpose of the
// context (WithAccess) and the outcome class: never a value, a key or a
// subject identifier.
//
// The hooks sit at the two ends of an operation. Seal and Open audit
// after every value is computed and before any is assigned: an Auditor
// error fails the call with an *AuditError and leaves the value exactly as
// it was (fail closed). A failed call is audited on its way out, and
// returns its own error (joined with the Auditor's, if that failed too).
// Lifecycle operations (Forget, rotations, holds, consent, sweeps) change
// the key store first, then audit their outcome: an Auditor error there is
// returned as an *AuditError joined to the operation's result, and says
// the operation took effect unaudited.

// ErrAudit is wrapped by every *AuditError.
var ErrAudit = errors.New("pii: audit failed")

// AuditError reports that the Auditor refused an event. Op is the audited
// operation; Applied says whether the operation took effect regardless
// (lifecycle operations audit after the fact) or not (Seal and Open fail
// closed: nothing was changed). Err is the Auditor's error.
type AuditError struct {
	Op      audit.Op
	Applied bool
	Err     error
}

func (e *AuditError) Error() string {
	if e.Applied {
		return fmt.Sprintf("pii: audit %s: the operation took effect but its event was not recorded: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("pii: audit %s: event not recorded, nothing changed: %v", e.Op, e.Err)
}

// Unwrap makes errors.Is(err, ErrAudit) true, and reaches the Auditor's
// error (audit.ErrBackpressure, ...).
func (e *AuditError) Unwrap() []error { return []error{ErrAudit, e.Err} }

// WithAuditor hands an audit.Event for every audited operation to a
// (see "Audit" in the package documentation). a is called synchronously:
// an Auditor that stores events somewhere slow should be an audit.Writer.
func WithAuditor(a audit.Auditor) Option {
	return func(c *config) error {
		if a == nil {
			return fmt.Errorf("%w: nil Auditor", ErrInvalidArgument)
		}
		c.auditor = a
		return nil
	}
}

// Outcome returns the audit outcome class of err: audit.OutcomeOK for nil,
// otherwise forgotten, authentication, held, unavailable, invalid or error.
func Outcome(err error) string {
	switch {
	case err == nil:
		return audit.OutcomeOK
	case errors.Is(err, ErrForgotten):
		return audit.OutcomeForgotten
	case errors.Is(err, ErrAuthentication), errors.Is(err, kms.ErrAuthentication):
		return audit.OutcomeAuthentication
	case errors.Is(err, ErrLegalHold):
		return audit.OutcomeHeld
	case errors.Is(err, ErrNoConsent):
		return audit.OutcomeNoConsent
	case errors.Is(err, ErrNoPurpose), errors.Is(err, ErrUnknownPurpose), errors.Is(err, ErrMasked):
		return audit.OutcomeInvalid
	case errors.Is(err, kms.ErrUnavailable), errors.Is(err, ErrFetchTimeout), errors.Is(err, ErrWatcherDown):
		return audit.OutcomeUnavailable
	case errors.Is(err, ErrInvalidArgument), errors.Is(err, ErrMalformed), errors.Is(err, ErrNotSealed),
		errors.Is(err, ErrNoSubject), errors.Is(err, ErrNoRecord), errors.Is(err, ErrCycle),
		errors.Is(err, ErrTooDeep), errors.Is(err, ErrValueTooLarge), errors.Is(err, ErrAlreadySealed),
		errors.Is(err, ErrAmbiguousToken), errors.Is(err, ErrUnprotectedInterface), errors.Is(err, ErrKeyNotFound),
		errors.Is(err, ErrNoHold):
		return audit.OutcomeInvalid
	}
	var te *TagError
	if errors.As(err, &te) {
		return audit.OutcomeInvalid
	}
	return audit.OutcomeError
}

// event starts an event of op at now, with the actor and purpose of ctx.
func (p *Protector) event(ctx context.Context, op audit.Op) audit.Event {
	a, _ := AccessFrom(ctx)
	return audit.Event{Time: p.now().UTC(), Op: op, Actor: a.Actor, Purpose: a.Purpose}
}

func auditOp(op string) audit.Op {
	if op == "seal" {
		return audit.OpSeal
	}
	return audit.OpOpen
}

// audited is the hook of Seal and Open before assignment.
func (p *Protector) audited(ctx context.Context, w *walker, op string, v any, many bool) error {
	if p.auditor == nil {
		return nil
	}
	return p.auditWalk(ctx, w, op, v, many, nil)
}

// auditWalk audits a Seal or Open (of one value, or of a slice with many)
// whose jobs w holds. With failed nil it is the hook before assignment:
// its error (an *AuditError) fails the call. Otherwise it audits the
// failure and returns failed, joined with the Auditor's error if any.
func (p *Protector) auditWalk(ctx context.Context, w *walker, op string, v any, many bool, failed error) error {
	var ae *AuditError
	if errors.As(failed, &ae) {
		return failed // the hook before assignment refused: already reported
	}
	e := p.event(ctx, auditOp(op))
	e.Type = auditType(v)
	e.Outcome = Outcome(failed)
	if many {
		e.Records = sliceLen(v)
	}
	if err := p.auditSubjects(&e, w, w.jobs); err != nil {
		return p.auditResult(failed, e.Op, err)
	}
	if failed == nil {
		auditFields(&e, w, op == "seal")
	}
	return p.auditResult(failed, e.Op, p.auditor.Audit(ctx, e))
}

// The classes of a job's field in an event.
const (
	fieldSkipped uint8 = iota
	fieldRefused
	fieldMasked
	fieldDone // sealed or opened
)

func fieldClass(j *job, seal bool) uint8 {
	switch {
	case j.acl == aclRefused: // purpose.go
		return fieldRefused
	case j.skip:
		return fieldSkipped
	case !seal && j.keys == nil:
		return fieldRefused
	case j.acl == aclMasked:
		return fieldMasked
	}
	return fieldDone
}

// auditFields sets the field lists of e from the jobs of w. The lists of a
// call whose jobs are all fields of the root struct (the common case: Seal
// or Open of one value of a flat type) are computed once per root, fields
// and classes, and shared read-only by every event that has them.
func auditFields(e *audit.Event, w *walker, seal bool) {
	k := fieldListKey{seal: seal, n: len(w.jobs)}
	cacheable := len(w.jobs) <= maxListJobs
	for i := 0; cacheable && i < len(w.jobs); i++ {
		j := &w.jobs[i]
		n := w.paths[j.path]
		if !j.direct || n.parent >= 0 || i > 0 && n.name != k.root {
			cacheable = false
			break
		}
		k.root, k.f[i], k.cls[i] = n.name, j.field, fieldClass(j, seal)
	}
	if cacheable {
		if last := lastFieldList.Load(); last != nil && last.key == k {
			last.lists.set(e, seal)
			return
		}
		if v, ok := fieldListCache.Load(k); ok {
			l := v.(*fieldLists)
			lastFieldList.Store(&fieldListEntry{k, l})
			l.set(e, seal)
			return
		}
	}
	var l fieldLists
	for i := range w.jobs {
		j := &w.jobs[i]
		switch fieldClass(j, seal) {
		case fieldRefused:
			l.refused = appendField(l.refused, w, j)
		case fieldMasked:
			l.masked = appendField(l.masked, w, j)
		case fieldDone:
			l.done = appendField(l.done, w, j)
		}
	}
	l.done, l.masked, l.refused = slices.Clip(l.done), slices.Clip(l.masked), slices.Clip(l.refused)
	if cacheable && fieldListCount.Load() < fieldListCacheSize {
		if _, loaded := fieldListCache.LoadOrStore(k, &l); !loaded {
			fieldListCount.Add(1)
		}
	}
	l.set(e, seal)
}

// maxListJobs bounds the jobs of a call whose field lists are cached.
const maxListJobs = 16

// fieldListCacheSize bounds fieldListCache (types in use × the combinations
// of their fields that are set, masked or refused); beyond it, lists are
// computed per call.
const fieldListCacheSize = 4096

var (
	fieldListCache sync.Map // fieldListKey → *fieldLists
	fieldListCount atomic.Int64
	// lastFieldList is the entry found last: a loop over values of one
	// type compares keys instead of hashing them.
	lastFieldList atomic.Pointer[fieldListEntry]
)

type fieldListEntry struct {
	key   fieldListKey
	lists *fieldLists
}

type fieldListKey struct {
	root string
	seal bool
	n    int
	f    [maxListJobs]*fieldPlan
	cls  [maxListJobs]uint8
}

// fieldLists are the field lists of an event, shared by the events of
// every call with the same key: capacity clipped, so that an Auditor's
// append copies; an Auditor must not modify them in place.
type fieldLists struct {
	done, masked, refused []string
}

func (l *fieldLists) set(e *audit.Event, seal bool) {
	if seal {
		e.Sealed = l.done
	} else {
		e.Opened = l.done
	}
	e.Masked, e.Refused = l.masked, l.refused
}

// auditEach is the hook of OpenEach before assignment: one event for the
// call, with the fields of the records that opened.
func (p *Protector) auditEach(ctx context.Context, w *walker, v any, recs []record, errs []error) error {
	e := p.event(ctx, audit.OpOpen)
	e.Type = auditType(v)
	e.Records = len(errs)
	e.Outcome = audit.OutcomeOK
	for _, err := range errs {
		if err != nil {
			if e.Failed == 0 {
				e.Outcome = Outcome(err)
			}
			e.Failed++
		}
	}
	if err := p.auditSubjects(&e, w, w.jobs); err != nil {
		return &AuditError{Op: e.Op, Err: err}
	}
	for r := range recs {
		if errs[recs[r].index] != nil {
			continue
		}
		for i := recs[r].jobs[0]; i < recs[r].jobs[1]; i++ {
			j := &w.jobs[i]
			switch {
			case j.acl == aclRefused: // purpose.go
				e.Refused = appendField(e.Refused, w, j)
			case j.skip:
			case j.keys == nil:
				e.Refused = appendField(e.Refused, w, j)
			case j.acl == aclMasked:
				e.Masked = appendField(e.Masked, w, j)
			default:
				e.Opened = appendField(e.Opened, w, j)
			}
		}
	}
	if err := p.auditor.Audit(ctx, e); err != nil {
		return &AuditError{Op: e.Op, Err: err}
	}
	return nil
}

// auditCall audits a failure of a whole call whose jobs are gone.
func (p *Protector) auditCall(ctx context.Context, op audit.Op, v any, many bool, failed error) error {
	e := p.event(ctx, op)
	e.Type = auditType(v)
	e.Outcome = Outcome(failed)
	if many {
		e.Records = sliceLen(v)
	}
	return p.auditResult(failed, op, p.auditor.Audit(ctx, e))
}

// auditResult combines an operation's error with the Auditor's.
func (p *Protector) auditResult(failed error, op audit.Op, aerr error) error {
	if aerr == nil {
		return failed
	}
	if failed == nil {
		return &AuditError{Op: op, Err: aerr}
	}
	return errors.Join(failed, &AuditError{Op: op, Err: aerr})
}

// auditSubjects sets the keyed references of the subjects of jobs.
func (p *Protector) auditSubjects(e *audit.Event, w *walker, jobs []job) error {
	if one, ok := oneSubject(jobs); ok { // the common case, without allocating
		if one != "" {
			id, err := p.auditRefs.recordID(p.ring, one)
			if err != nil {
				return err
			}
			e.Subject = id
		}
		return nil
	}
	var subjects []string
	for i := range jobs {
		s := jobs[i].subject
		if s == "" || jobs[i].field.global || slices.Contains(subjects, s) {
			continue
		}
		subjects = append(subjects, s)
	}
	refs := make([]string, 0, len(subjects))
	for _, s := range subjects {
		id, err := p.auditRefs.recordID(p.ring, s)
		if err != nil {
			return err
		}
		refs = append(refs, id)
	}
	slices.Sort(refs)
	switch len(refs) {
	case 0:
	case 1:
		e.Subject = refs[0]
	default:
		e.Subjects = refs
	}
	return nil
}

// oneSubject returns the subject of jobs (global fields aside) if there is
// at most one ("" for none), and false if there are several.
func oneSubject(jobs []job) (string, bool) {
	one := ""
	for i := range jobs {
		s := jobs[i].subject
		if s == "" || jobs[i].field.global || s == one {
			continue
		}
		if one != "" {
			return "", false
		}
		one = s
	}
	return one, true
}

// appendField adds the path of j's field, without indexes, to fields
// unless it is there already.
func appendField(fields []string, w *walker, j *job) []string {
	var path string
	if root, ok := rootLevel(w, j.path); ok && j.direct {
		// The common case: a field of the value's own struct (or of one
		// it embeds). Its path is the root's name and the field's.
		k := rootPathKey{j.field, root}
		if v, ok := rootPaths.Load(k); ok {
			path = v.(string)
		} else {
			path = stripIndexes(w.jobPath(j))
			rootPaths.Store(k, path)
		}
	} else {
		path = stripIndexes(w.jobPath(j))
	}
	if slices.Contains(fields, path) {
		return fields
	}
	return append(fields, path)
}

// rootPaths caches the audit path of fields at the root level, by field
// plan and root name (plans are cached per type, so this is bounded by
// the fields of the types in use).
var rootPaths sync.Map

type rootPathKey struct {
	f    *fieldPlan
	root string
}

// rootLevel reports whether path node i is the root struct or a record of
// a slice directly below it, and the root's name.
func rootLevel(w *walker, i int32) (string, bool) {
	n := w.paths[i]
	if n.parent < 0 {
		return n.name, true
	}
	if p := w.paths[n.parent]; n.index >= 0 && p.parent < 0 {
		return p.name, true
	}
	return "", false
}

// stripIndexes removes the [i] and […] steps of a path.
func stripIndexes(path string) string {
	if strings.IndexByte(path, '[') >= 0 {
		var b strings.Builder
		depth := 0
		for _, r := range path {
			switch {
			case r == '[':
				depth++
			case r == ']':
				depth--
			case depth == 0:
				b.WriteRune(r)
			}
		}
		path = b.String()
	}
	return path
}

// refCache memoizes the record IDs of recently audited subjects, for one
// addressing chain: a new chain (RotateAddressingKey) empties it. It holds
// at most refCacheSize subjects (identifiers the key cache holds too),
// and is emptied when full.
type refCache struct {
	mu   sync.Mutex
	addr *addressing
	ids  map[string]string
}

const refCacheSize = 4096

func (c *refCache) recordID(r *keyring, subject string) (string, error) {
	a := r.addr.Load()
	c.mu.Lock()
	if c.addr == a {
		if id, ok := c.ids[subject]; ok {
			c.mu.Unlock()
			return id, nil
		}
	}
	c.mu.Unlock()
	ids, err := a.ids(subject, false)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.addr != a || len(c.ids) >= refCacheSize {
		c.addr, c.ids = a, make(map[string]string)
	}
	c.ids[subject] = ids[0]
	c.mu.Unlock()
	return ids[0], nil
}

// auditType is the scope of the struct type of v (a pointer to a struct,
// or a slice of structs or pointers to them), or its Go type if it has no
// valid plan.
func auditType(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		if rp := planFor(t); rp.err == nil {
			return rp.st.scope
		}
	}
	return t.String()
}

func sliceLen(v any) int {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Slice {
		return 0
	}
	return rv.Len()
}

// auditLifecycle audits a lifecycle operation about subject (empty: none)
// once it returned *errp, joining the Auditor's error to it. Deferred by
// the operation.
func (p *Protector) auditLifecycle(ctx context.Context, e audit.Event, subject string, errp *error) {
	if p.auditor == nil {
		return
	}
	a, _ := AccessFrom(ctx)
	e.Time = p.now().UTC()
	if a.Actor != "" {
		e.Actor = a.Actor
	}
	if e.Purpose == "" {
		e.Purpose = a.Purpose
	}
	e.Outcome = Outcome(*errp)
	if subject != "" {
		if id, err := p.ring.recordID(subject); err == nil {
			e.Subject = id
		}
	}
	if err := p.auditor.Audit(ctx, e); err != nil {
		*errp = errors.Join(*errp, &AuditError{Op: e.Op, Applied: *errp == nil, Err: err})
	}
}

// auditSweep audits an expiry sweep once it returned.
func (p *Protector) auditSweep(ctx context.Context, rep *SweepReport, errp *error) {
	if p.auditor == nil {
		return
	}
	e := audit.Event{Op: audit.OpExpire, Detail: "sweep", Records: len(rep.Receipts)}
	for _, r := range rep.Receipts {
		e.Subjects = append(e.Subjects, r.Subject)
	}
	if len(e.Subjects) == 1 {
		e.Subject, e.Subjects = e.Subjects[0], nil
	}
	slices.Sort(e.Subjects)
	p.auditLifecycle(ctx, e, "", errp)
}

// consentEvent is the event of a consent change: its purpose is the one
// granted or withdrawn.
func consentEvent(c ConsentChange, grant bool) audit.Event {
	e := audit.Event{Op: audit.OpConsentWithdraw, Actor: c.Actor, Purpose: c.Purpose}
	if grant {
		e.Op = audit.OpConsentGrant
	}
	return e
}
