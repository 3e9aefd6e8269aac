package pii

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
)

// Subject access and portability (GDPR Art. 15 and 20): ExportSubject opens
// copies of one subject's records, which the application has fetched, and
// returns their personal data field by field, with what each field is and
// how it is protected, and what the key store records of the subject's
// rights (consent, legal holds, erasure requests).
//
// The export holds the subject's own data in the clear: it is for the
// subject, and the application hands it over as it would any personal
// data (fieldcrypt never logs it, and neither should the caller). It never
// holds keys, ciphertexts, tokens (a token field appears as the value it
// stands for), tokenmac values or blind-index terms: index terms and MACs
// are not the subject's data but keyed hashes derived from it, useless to
// them and, for global indexes, a way to link other people's rows; the
// export says which fields they are computed from (the data map lists
// them). Record IDs of the key store (keyed hashes of the subject) are left
// out too.

// ExportVersion is the version of the SubjectExport format.
const ExportVersion = 1

// SubjectExport is the machine-readable export of one subject's data. Its
// JSON form is the documented portable format.
type SubjectExport struct {
	// Version is ExportVersion.
	Version int `json:"version"`
	// Subject is the subject identifier the export was made for.
	Subject string `json:"subject"`
	// GeneratedAt is when the export was made.
	GeneratedAt time.Time `json:"generated_at"`
	// Records are the records given, opened, in the order given.
	Records []ExportRecord `json:"records"`
	// Rights is what the key store records of the subject.
	Rights ExportRights `json:"rights"`
}

// ExportRecord is one record of a SubjectExport.
type ExportRecord struct {
	// Type is the record's package-qualified type name.
	Type string `json:"type"`
	// Fields are its personal fields, each element of a slice, array or
	// map on its own, depth first in field order (map entries by key).
	Fields []ExportField `json:"fields"`
}

// ExportField is one opened value.
type ExportField struct {
	// Path is the value's path in the record: Go field names joined by
	// '.', with [i] for an element of a slice or array and [key] (a quoted
	// string, or an integer) for a map value.
	Path string `json:"path"`
	// Value is the opened value: a string; base64 (standard, padded) for
	// []byte; for a Sealed[T] field, T's JSON form (RFC 3339 for
	// time.Time).
	Value any `json:"value"`
	// Protection is how the field is kept (the Protect* constants), with
	// Token's format for a token field.
	Protection string `json:"protection"`
	Token      string `json:"token_format,omitempty"`
	// IndexedBy lists the blind-index fields computed from this one (their
	// terms are not exported).
	IndexedBy []string `json:"indexed_by,omitempty"`
	// Purposes lists the purposes the field may be opened for (its
	// purpose= tag); an empty list — never null — means every purpose.
	Purposes []string `json:"purposes"`
}

// ExportRights is what the key store records of a subject's rights.
type ExportRights struct {
	// Consent lists the purposes consented to now, and ConsentHistory
	// every grant and withdrawal.
	Consent        []string             `json:"consent"`
	ConsentHistory []ExportConsentEvent `json:"consent_history"`
	// Holds are the legal holds standing on the subject.
	Holds []ExportHold `json:"holds"`
	// ErasureRequests are the subject's erasure requests.
	ErasureRequests []ExportErasureRequest `json:"erasure_requests"`
	// Unavailable names the parts above the key store cannot answer
	// ("consent", "holds", "erasure_requests"): they are empty because
	// unknown, not because there is nothing.
	Unavailable []string `json:"unavailable"`
}

// ExportConsentEvent is one grant or withdrawal.
type ExportConsentEvent struct {
	Purpose string    `json:"purpose"`
	Action  string    `json:"action"`
	Actor   string    `json:"actor"`
	At      time.Time `json:"at"`
}

// ExportHold is a legal hold standing on the subject.
type ExportHold struct {
	Reference string    `json:"reference"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// ExportErasureRequest is one erasure request.
type ExportErasureRequest struct {
	Ticket    string        `json:"ticket"`
	Received  time.Time     `json:"received"`
	Deadline  time.Time     `json:"deadline"`
	Status    RequestStatus `json:"status"`
	Completed *time.Time    `json:"completed,omitempty"`
}

// ErrOtherSubject: ExportSubject was given a record of another subject (or
// one whose subject field is empty). See *SubjectMismatchError.
var ErrOtherSubject = errors.New("pii: record of another subject")

// SubjectMismatchError says which record ExportSubject refused, by its
// position among the records given and the path of its subject field; it
// never holds either subject.
type SubjectMismatchError struct {
	Record int    // index among the records given
	Type   string // the record's type
	Path   string // the subject field whose value differs
}

func (e *SubjectMismatchError) Error() string {
	return fmt.Sprintf("pii: export: record %d (%s): %s is another subject's (or empty)", e.Record, e.Type, e.Path)
}

func (e *SubjectMismatchError) Unwrap() error { return ErrOtherSubject }

// ExportSubject returns the export of subject's data: records (structs,
// pointers to structs, or slices of them) are opened as copies, so the
// caller's values are never changed; every subject field in them must be
// subject, or the export fails with a *SubjectMismatchError
// (errors.Is(err, ErrOtherSubject)) before anything is opened. Opening
// fails as Open does (ErrForgotten for an erased subject, unless
// WithErasedPlaceholder is set). The rights part is read from the key
// store; a store without holds, consent or a request log leaves that part
// empty and names it in Unavailable. ExportSubject never logs.
func (p *Protector) ExportSubject(ctx context.Context, subject string, records ...any) (SubjectExport, error) {
	if subject == "" {
		return SubjectExport{}, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	var roots []reflect.Value // addressable copies
	var plans []*structPlan
	for i, r := range flattenRecords(records) {
		v := reflect.ValueOf(r)
		if !v.IsValid() {
			return SubjectExport{}, fmt.Errorf("%w: export: record %d is nil", ErrInvalidArgument, i)
		}
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return SubjectExport{}, fmt.Errorf("%w: export: record %d is a nil pointer", ErrInvalidArgument, i)
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return SubjectExport{}, fmt.Errorf("%w: export: record %d is a %v, not a struct", ErrInvalidArgument, i, v.Type())
		}
		rp := planFor(v.Type())
		if rp.err != nil {
			return SubjectExport{}, rp.err
		}
		if path, ok := checkSubjects(v, rp.st, rp.st.name, subject, false); !ok {
			return SubjectExport{}, &SubjectMismatchError{Record: i, Type: v.Type().String(), Path: path}
		}
		roots = append(roots, copyNode(v, &node{kind: nStruct, typ: v.Type(), st: rp.st}))
		plans = append(plans, rp.st)
	}
	out := SubjectExport{Version: ExportVersion, Subject: subject, GeneratedAt: p.now().UTC(), Records: []ExportRecord{}}
	// One subject: after the first record, its keys come from the cache.
	for _, c := range roots {
		if err := p.Open(ctx, c.Addr().Interface()); err != nil {
			return SubjectExport{}, err
		}
	}
	for i, c := range roots {
		rec := ExportRecord{Type: c.Type().String(), Fields: []ExportField{}}
		exportStruct(&rec, c, plans[i], plans[i].name, map[*structPlan]int{})
		out.Records = append(out.Records, rec)
	}
	rights, err := p.exportRights(ctx, subject)
	if err != nil {
		return SubjectExport{}, err
	}
	out.Rights = rights
	return out, nil
}

// flattenRecords expands slices and arrays among records into their
// elements, leaving out nil pointers.
func flattenRecords(records []any) []any {
	var out []any
	for _, r := range records {
		v := reflect.ValueOf(r)
		if v.IsValid() && (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) {
			for i := range v.Len() {
				if e := v.Index(i); e.Kind() != reflect.Pointer || !e.IsNil() { // nil elements are skipped, as by OpenAll
					out = append(out, e.Interface())
				}
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// checkSubjects reports whether every subject field in v (a struct of plan
// st, reached at path) that is in reach of a protected value is subject;
// if not, the path of the first one that is not. inherited: an enclosing
// level had a subject (already checked).
func checkSubjects(v reflect.Value, st *structPlan, path, subject string, inherited bool) (string, bool) {
	has := inherited
	if st.subject != nil {
		f, err := v.FieldByIndexErr(st.subject)
		if err == nil {
			if f.String() != subject {
				return path + "." + v.Type().FieldByIndex(st.subject).Name, false
			}
			has = true
		}
	}
	for _, f := range st.fields {
		fv := v.Field(f.index)
		p := path + "." + f.goName
		if f.inline {
			p = path
		}
		if f.name != "" {
			if !has && !f.global {
				return p, false // no subject in reach: Open would refuse it anyway
			}
			continue
		}
		if bad, ok := checkNode(fv, f.node, p, subject, has); !ok {
			return bad, false
		}
	}
	return "", true
}

func checkNode(v reflect.Value, n *node, path, subject string, has bool) (string, bool) {
	switch n.kind {
	case nStruct:
		return checkSubjects(v, n.st, path, subject, has)
	case nPtr:
		if v.IsNil() {
			return "", true
		}
		return checkNode(v.Elem(), n.elem, path, subject, has)
	case nSlice, nArray:
		for i := range v.Len() {
			if bad, ok := checkNode(v.Index(i), n.elem, path+"["+strconv.Itoa(i)+"]", subject, has); !ok {
				return bad, false
			}
		}
	case nMap:
		for _, k := range sortedKeys(v) {
			if bad, ok := checkNode(v.MapIndex(k), n.elem, path+"["+mapKey(k)+"]", subject, has); !ok {
				return bad, false
			}
		}
	}
	return "", true
}

// copyNode returns an addressable copy of v (of node n) in which every
// value Open may replace is a copy: structs on the plan's paths, and the
// pointers, slices and maps leading to them. Other fields are copied as
// values (their pointers still shared), which Open never writes through.
func copyNode(v reflect.Value, n *node) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	switch n.kind {
	case nStruct:
		c.Set(v)
		for _, f := range n.st.fields {
			c.Field(f.index).Set(copyNode(v.Field(f.index), f.node))
		}
	case nPtr:
		if v.IsNil() {
			return c
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(copyNode(v.Elem(), n.elem))
		c.Set(p)
	case nSlice:
		if v.IsNil() {
			return c
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(copyNode(v.Index(i), n.elem))
		}
		c.Set(s)
	case nArray:
		for i := range v.Len() {
			c.Index(i).Set(copyNode(v.Index(i), n.elem))
		}
	case nMap:
		if v.IsNil() {
			return c
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m.SetMapIndex(iter.Key(), copyNode(iter.Value(), n.elem))
		}
		c.Set(m)
	case nBytes:
		if !v.IsNil() {
			c.SetBytes(append([]byte{}, v.Bytes()...))
		}
	default: // strings and Sealed values: values, copied by Set
		c.Set(v)
	}
	return c
}

// exportStruct appends the personal values of v (plan st, at path) to rec.
// onPath counts the plans on the path, so that a recursive type's values
// are exported at every depth the data has, but a cycle of pointers ends.
func exportStruct(rec *ExportRecord, v reflect.Value, st *structPlan, path string, onPath map[*structPlan]int) {
	if onPath[st] > maxExportDepth {
		return
	}
	onPath[st]++
	defer func() { onPath[st]-- }()
	indexedBy := map[int][]string{}
	for _, ix := range st.indexes {
		for _, src := range ix.sources {
			indexedBy[src.index] = append(indexedBy[src.index], path+"."+ix.goName)
		}
	}
	if len(st.subject) == 1 {
		sf := st.typ.Field(st.subject[0])
		rec.Fields = append(rec.Fields, ExportField{Path: path + "." + sf.Name, Value: v.Field(st.subject[0]).String(), Protection: ProtectSubject, Purposes: []string{}})
	}
	if len(st.record) == 1 {
		rf := st.typ.Field(st.record[0])
		rec.Fields = append(rec.Fields, ExportField{Path: path + "." + rf.Name, Value: v.Field(st.record[0]).String(), Protection: ProtectRecord, Purposes: []string{}})
	}
	for i := range st.fields {
		f := &st.fields[i]
		p := path + "." + f.goName
		if f.inline {
			p = path
		}
		fv := v.Field(f.index)
		if f.name == "" {
			exportNested(rec, fv, f.node, p, onPath)
			continue
		}
		proto := ExportField{Protection: ProtectEncrypt, IndexedBy: indexedBy[f.index], Purposes: []string{}}
		if f.acl != nil && len(f.acl.purposes) > 0 {
			proto.Purposes = slices.Clone(f.acl.purposes)
		}
		switch {
		case f.token != "":
			proto.Protection, proto.Token = ProtectToken, string(f.token)
		case f.mode == envelope.Deterministic:
			proto.Protection = ProtectDeterministic
		}
		exportLeaf(rec, fv, f.node, p, proto)
	}
}

// maxExportDepth bounds how many times one type may nest in itself in an
// export (a cycle of pointers would otherwise never end).
const maxExportDepth = 64

func exportNested(rec *ExportRecord, v reflect.Value, n *node, path string, onPath map[*structPlan]int) {
	switch n.kind {
	case nStruct:
		exportStruct(rec, v, n.st, path, onPath)
	case nPtr:
		if !v.IsNil() {
			exportNested(rec, v.Elem(), n.elem, path, onPath)
		}
	case nSlice, nArray:
		for i := range v.Len() {
			exportNested(rec, v.Index(i), n.elem, path+"["+strconv.Itoa(i)+"]", onPath)
		}
	case nMap:
		for _, k := range sortedKeys(v) {
			exportNested(rec, v.MapIndex(k), n.elem, path+"["+mapKey(k)+"]", onPath)
		}
	}
}

func exportLeaf(rec *ExportRecord, v reflect.Value, n *node, path string, proto ExportField) {
	switch n.kind {
	case nString:
		proto.Path, proto.Value = path, v.String()
	case nBytes:
		if v.IsNil() {
			return
		}
		proto.Path, proto.Value = path, v.Bytes()
	case nSealed:
		tmp := reflect.New(v.Type()) // map values are not addressable
		tmp.Elem().Set(v)
		sv := tmp.Interface().(sealedValue)
		if st, _ := sv.sealedState(); st == stateNull || st == stateErased {
			proto.Path, proto.Value = path, nil
		} else {
			proto.Path, proto.Value = path, sv.plainValue().Interface()
		}
	case nPtr:
		if !v.IsNil() {
			exportLeaf(rec, v.Elem(), n.elem, path, proto)
		}
		return
	case nSlice, nArray:
		for i := range v.Len() {
			exportLeaf(rec, v.Index(i), n.elem, path+"["+strconv.Itoa(i)+"]", proto)
		}
		return
	case nMap:
		for _, k := range sortedKeys(v) {
			exportLeaf(rec, v.MapIndex(k), n.elem, path+"["+mapKey(k)+"]", proto)
		}
		return
	default:
		return
	}
	rec.Fields = append(rec.Fields, proto)
}

// sortedKeys returns the keys of map v in a fixed order.
func sortedKeys(v reflect.Value) []reflect.Value {
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(mapKey(a), mapKey(b)) })
	return keys
}

// mapKey formats a map key for a path: a quoted string, or a number.
func mapKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return strconv.Quote(k.String())
	}
	return fmt.Sprint(k.Interface())
}

// exportRights reads what the key store records of subject's rights.
func (p *Protector) exportRights(ctx context.Context, subject string) (ExportRights, error) {
	r := ExportRights{Consent: []string{}, ConsentHistory: []ExportConsentEvent{}, Holds: []ExportHold{}, ErasureRequests: []ExportErasureRequest{}, Unavailable: []string{}}
	unsupported := func(part string, err error) (bool, error) {
		if errors.Is(err, ErrUnsupportedStore) {
			r.Unavailable = append(r.Unavailable, part)
			return true, nil
		}
		return false, err
	}
	if consent, err := p.Consent(ctx, subject); err != nil {
		if skip, err := unsupported("consent", err); !skip {
			return ExportRights{}, err
		}
	} else {
		r.Consent = consent
		hist, err := p.ConsentHistory(ctx, subject)
		if err != nil {
			return ExportRights{}, err
		}
		for _, e := range hist {
			r.ConsentHistory = append(r.ConsentHistory, ExportConsentEvent{Purpose: e.Purpose, Action: e.Action, Actor: e.Actor, At: e.At})
		}
	}
	if holds, err := p.Holds(ctx, subject); err != nil {
		if skip, err := unsupported("holds", err); !skip {
			return ExportRights{}, err
		}
	} else {
		for _, h := range holds {
			r.Holds = append(r.Holds, ExportHold{Reference: h.Reference, By: h.By, At: h.At})
		}
	}
	if reqs, err := p.ErasureRequests(ctx, subject); err != nil {
		if skip, err := unsupported("erasure_requests", err); !skip {
			return ExportRights{}, err
		}
	} else {
		for _, q := range reqs {
			e := ExportErasureRequest{Ticket: q.Ticket, Received: q.Received, Deadline: q.Deadline, Status: q.Status}
			if !q.Completed.IsZero() {
				c := q.Completed
				e.Completed = &c
			}
			r.ErasureRequests = append(r.ErasureRequests, e)
		}
	}
	return r, nil
}
