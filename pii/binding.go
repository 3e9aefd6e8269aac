package pii

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
)

// Record and element binding.
//
// A `pii:"record"` string field names the record its level belongs to.
// Encrypted fields in reach of one (at its level, in embedded structs, and
// in nested structs without a record field of their own) are sealed with
// the version 2 associated data of package envelope, which adds the record
// value; `pii:"encrypt,bindindex"` adds the position of each element inside
// the field (slice or array index, map key). A value copied to another
// record, or to another element, then fails to open.

var (
	// ErrNoRecord: a value to seal (or a record-bound value to open) sits
	// in a struct whose record field is empty. fieldcrypt never falls back
	// to sealing without the record.
	ErrNoRecord = errors.New("pii: empty record")

	// ErrNotRecordBound: with WithRecordBindingRequired, Open found a value
	// sealed without record or element binding (format version 1) in a
	// field that is bound. It wraps ErrAuthentication: such a value may
	// have been copied from another record.
	ErrNotRecordBound = fmt.Errorf("%w: value is not bound to its record or position (format v1)", ErrAuthentication)
)

// WithRecordBindingRequired makes Open refuse, with ErrNotRecordBound,
// values sealed before record or element binding was added to their field
// (format version 1, "fc1a." or "fc1d."), in fields that are now bound.
// Without it, such values still open, bound only to subject, scope and
// name, so that old data stays readable. Turn it on once every record has
// been re-sealed: until then, a version 1 value copied from another record
// of the same subject opens.
func WithRecordBindingRequired() Option {
	return func(c *config) error { c.requireRecordBinding = true; return nil }
}

// binding is what a value is bound to besides subject, scope and name.
type binding struct {
	record    string // the value of the record field in reach
	hasRecord bool   // a record field is in reach
	position  string // element steps, outermost first (envelope's layout)
}

// boundToRecord reports whether f's values use the record in reach.
func (f *fieldPlan) boundToRecord(rec binding) bool {
	return rec.hasRecord && f.bind != bindSubject
}

// sealVersion is the envelope version a job is sealed with: 2 when the
// field is bound to a record or to positions, 1 otherwise (exactly as
// before record binding existed).
func (w *walker) sealVersion(j *job) int {
	if j.field.bindIndex || j.rec != 0 && j.field.boundToRecord(w.recs[j.rec-1]) {
		return envelope.V2
	}
	return envelope.V1
}

// appendAD appends the associated data of job j in the given version.
func (w *walker) appendAD(dst []byte, j *job, version int) []byte {
	if version == envelope.V1 {
		return envelope.AppendAssociatedData(dst, j.subject, j.scope, j.field.name)
	}
	rec := w.recOf(j)
	record := ""
	if j.field.boundToRecord(rec) {
		record = rec.record
	}
	return envelope.AppendAssociatedDataV2(dst, j.subject, j.scope, record, []byte(rec.position), j.field.name)
}

// checkBindingJob refuses, before any key is used, a job whose record is
// empty, or (with WithRecordBindingRequired) a version 1 value in a bound
// field.
func (w *walker) checkBindingJob(p *Protector, j *job, op string) error {
	if j.rec == 0 && !j.field.bindIndex {
		return nil // bound to nothing but subject, scope and name
	}
	return w.checkBound(p, j, op)
}

// checkBound is checkBindingJob for a job that may be bound to a record
// or position.
func (w *walker) checkBound(p *Protector, j *job, op string) error {
	rec := w.recOf(j)
	if j.skip || (op == "open" && j.keys == nil) {
		return nil
	}
	// The record is used by encrypted fields bound to it, and by the MAC
	// of token fields.
	usesRecord := j.field.boundToRecord(rec) && (j.field.token == "" || j.field.hasMAC)
	switch {
	case !usesRecord:
	case op == "seal" && rec.record == "":
		return ErrNoRecord
	case j.field.token != "" && rec.record == "":
		return ErrNoRecord
	case j.version == envelope.V2 && rec.record == "":
		return ErrNoRecord
	}
	if op == "open" && j.field.token == "" && j.version == envelope.V1 && p.requireRecordBinding &&
		(j.field.boundToRecord(rec) || j.field.bindIndex) {
		return ErrNotRecordBound
	}
	return nil
}

// elemRec returns the binding (a job.rec) of an element of container node
// n, reached at path p, in a container bound to ri: ri itself, or when f
// binds positions a new binding whose position adds the element's.
func (w *walker) elemRec(ri int32, f *fieldPlan, n *node, p int32) int32 {
	if !f.bindIndex {
		return ri
	}
	var step []byte
	switch n.kind {
	case nSlice, nArray:
		step = envelope.AppendIndexStep(nil, uint64(w.paths[p].index))
	case nMap:
		switch k := w.mapKey; k.Kind() {
		case reflect.String:
			step = envelope.AppendStringKeyStep(nil, k.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			step = envelope.AppendIntKeyStep(nil, k.Int())
		default: // unsigned, checked by bindOptions
			step = envelope.AppendUintKeyStep(nil, k.Uint())
		}
	default: // a pointer: no position of its own
		return ri
	}
	var rec binding
	if ri != 0 {
		rec = w.recs[ri-1]
	}
	rec.position += string(step)
	return w.pushRec(rec)
}

// readRecord reads the record field of v; "" if it sits behind a nil
// embedded pointer.
func readRecord(v reflect.Value, st *structPlan) string {
	if !st.recordViaPtr {
		return v.FieldByIndex(st.record).String()
	}
	f, err := v.FieldByIndexErr(st.record)
	if err != nil {
		return ""
	}
	return f.String()
}

// addRecord declares st's record field.
func (b *builder) addRecord(st *structPlan, f reflect.StructField) *TagError {
	if f.Type.Kind() != reflect.String {
		return b.tagError(st, f, "record must be a string, not %v", f.Type)
	}
	if st.record != nil {
		return b.tagError(st, f, "two record fields at one level (%s and %s)", st.typ.FieldByIndex(st.record).Name, f.Name)
	}
	st.record = []int{f.Index[0]}
	return nil
}

// promoteRecord promotes the record field of an embedded struct, as its
// subject is promoted.
func (b *builder) promoteRecord(st *structPlan, f reflect.StructField, sub *structPlan, inner reflect.Type, ptr bool) *TagError {
	if sub.record == nil {
		return nil
	}
	if st.record != nil {
		return b.tagError(st, f, "two record fields at one level: %s and the promoted %s", st.typ.FieldByIndex(st.record).Name, inner.FieldByIndex(sub.record).Name)
	}
	st.record = append([]int{f.Index[0]}, sub.record...)
	st.recordViaPtr = ptr || sub.recordViaPtr
	return nil
}

// bindOptions checks and records the bindindex and bind= options of an
// encrypt field.
func (b *builder) bindOptions(st *structPlan, f reflect.StructField, fp *fieldPlan, tg tag) *TagError {
	fp.bindIndex, fp.bind = tg.bindIndex, tg.bind
	if !tg.bindIndex {
		return nil
	}
	containers := 0
	for n := fp.node; n != nil; n = n.elem {
		switch n.kind {
		case nSlice, nArray:
			containers++
		case nMap:
			containers++
			switch n.typ.Key().Kind() {
			case reflect.String,
				reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			default:
				return b.tagError(st, f, "bindindex needs map keys of string or integer kind, not %v", n.typ.Key())
			}
		}
	}
	if containers == 0 {
		return b.tagError(st, f, "bindindex applies to slices, arrays and maps; %v has no elements to bind", f.Type)
	}
	return nil
}

// checkBinding validates the bind= options of a root type against the
// records in reach: a deterministic field within reach of a record must say
// bind=subject or bind=record, and bind=record needs a record in reach.
func checkBinding(root *structPlan) error {
	type visit struct {
		st        *structPlan
		hasRecord bool
	}
	seen := map[visit]bool{}
	var walkStruct func(st *structPlan, hasRecord bool) error
	walkStruct = func(st *structPlan, hasRecord bool) error {
		v := visit{st, hasRecord}
		if seen[v] {
			return nil
		}
		seen[v] = true
		hasRecord = hasRecord || st.record != nil
		for i := range st.fields {
			f := &st.fields[i]
			if f.name != "" && f.token == "" {
				switch {
				case f.bind == bindRecord && !hasRecord:
					return &TagError{Type: st.typ, Field: f.goName, Reason: "bind=record, but no `pii:\"record\"` field is in reach: add one to this struct or to one that encloses it"}
				case f.mode == envelope.Deterministic && hasRecord && f.bind == bindDefault:
					return &TagError{Type: st.typ, Field: f.goName, Reason: "deterministic field within reach of a record field: say bind=subject (equal values of the subject stay equal across records; the value is not bound to its record) or bind=record (bound to the record; equality only within one record)"}
				}
			}
			for n := f.node; n != nil; n = n.elem {
				if n.kind == nStruct {
					if err := walkStruct(n.st, hasRecord); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return walkStruct(root, false)
}
