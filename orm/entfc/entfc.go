package entfc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"entgo.io/ent"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Sentinel errors; the *Error below wraps them or pii's errors. No error
// holds a value, a ciphertext or a key.
var (
	// ErrBulkUpdate: an Update of many entities (not UpdateOne) sets a
	// field Seal writes. Each entity may have its own subject, and so its
	// own key: update them one by one with UpdateOne.
	ErrBulkUpdate = errors.New("entfc: a bulk update cannot seal: update each entity with UpdateOne")

	// ErrUnknownField: a mutation sets a field that the entity type T
	// given to Hook has no struct field for (a json tag naming it).
	ErrUnknownField = errors.New("entfc: the entity type has no struct field for a mutated field")
)

// Error reports the failure of a hook or an interceptor.
type Error struct {
	Op    string // "create", "update" or "query"
	Type  string // the entity type
	Field string // the ent field, if one is named
	Err   error
}

func (e *Error) Error() string {
	s := "entfc: " + e.Op + " " + e.Type
	if e.Field != "" {
		s += fmt.Sprintf(" field %q", e.Field)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// OpenError reports entities of a query that did not open: Errs has one
// entry per entity, nil for one that opened. An entity that did not open
// is returned as it was read (sealed).
type OpenError struct {
	Type string
	Errs []error
}

func (e *OpenError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("entfc: query %s: %d of %d entities did not open; first: %v", e.Type, n, len(e.Errs), first)
}

// Unwrap returns the errors of the entities that did not open.
func (e *OpenError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

type rawKey struct{}

// Raw returns a context under which the hooks and interceptors of this
// package do nothing: values are written and read as they are. It is for
// code that seals and opens by itself (pii.Matches on candidates, as
// FindByIndex does; pii.Backfill).
func Raw(ctx context.Context) context.Context { return context.WithValue(ctx, rawKey{}, true) }

func isRaw(ctx context.Context) bool { return ctx.Value(rawKey{}) != nil }

// entityInfo maps the ent fields of an entity type to its struct fields.
type entityInfo struct {
	typ     reflect.Type
	name    string
	byName  map[string]int  // ent field name -> struct field index
	written map[string]bool // ent field names of the fields Seal writes
	err     error
}

var infos sync.Map // reflect.Type -> *entityInfo

func infoFor[T any]() *entityInfo {
	t := reflect.TypeFor[T]()
	if ei, ok := infos.Load(t); ok {
		return ei.(*entityInfo)
	}
	ei := &entityInfo{typ: t, name: t.Name(), byName: map[string]int{}, written: map[string]bool{}}
	fields, err := pii.WrittenFields(t)
	if err != nil {
		ei.err = err
	} else {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			ei.byName[name] = i
			for _, w := range fields {
				if len(w.Path) == 1 && w.Path[0] == i {
					ei.written[name] = true
				}
			}
		}
	}
	v, _ := infos.LoadOrStore(t, ei)
	return v.(*entityInfo)
}

// Hook returns an ent hook that seals the fields of entity type T (the
// generated struct, whose fields carry pii tags through the schema's
// StructTag) that a create or an UpdateOne sets, and opens the entity
// they return. Register it on T's client: client.Customer.Use(entfc.Hook[ent.Customer](p)).
//
// The mutation's fields (and, for UpdateOne, the entity's other stored
// fields that Seal does not write, such as the subject, read with
// OldField) are copied into a T, which is sealed; the fields whose value
// Seal changed (the protected fields set, and the blind-index fields
// computed from them) are set on the mutation, which is then saved. After
// the save, whether it succeeded or failed, the mutation holds again what
// the caller set (so a builder can be saved again), and the returned
// entity is opened: the caller sees plaintext, the database ciphertexts.
// A time.Time returned this way is in UTC (pii keeps the instant only).
//
// A bulk Update that sets a field Seal writes fails with ErrBulkUpdate;
// one that sets other fields passes. A compound blind index is computed
// from the source fields the mutation (or, for UpdateOne, nothing else)
// sets: an update must set all the sources of a compound index it
// touches.
func Hook[T any](p *pii.Protector) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			ei := infoFor[T]()
			if m.Type() != ei.name || isRaw(ctx) || !m.Op().Is(ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne) {
				return next.Mutate(ctx, m)
			}
			op := "create"
			if !m.Op().Is(ent.OpCreate) {
				op = "update"
			}
			if ei.err != nil {
				return nil, &Error{Op: op, Type: ei.name, Err: ei.err}
			}
			undo, err := seal(ctx, p, ei, m, op)
			if err != nil {
				return nil, err
			}
			v, err := next.Mutate(ctx, m)
			if undo != nil {
				undo()
			}
			if err != nil {
				return v, err
			}
			if e, ok := v.(*T); ok && e != nil {
				if oerr := p.Open(ctx, e); oerr != nil {
					return v, &Error{Op: op, Type: ei.name, Err: oerr}
				}
			}
			return v, nil
		})
	}
}

// seal seals the fields of m, and returns the function that sets them back
// to what the caller set (nil if nothing was sealed).
func seal(ctx context.Context, p *pii.Protector, ei *entityInfo, m ent.Mutation, op string) (func(), error) {
	set := m.Fields()
	touched := false
	for _, name := range set {
		if ei.written[name] {
			touched = true
		}
	}
	if !touched {
		return nil, nil
	}
	if m.Op().Is(ent.OpUpdate) {
		return nil, &Error{Op: op, Type: ei.name, Err: ErrBulkUpdate}
	}
	v := reflect.New(ei.typ).Elem()
	isSet := map[string]bool{}
	for _, name := range set {
		i, ok := ei.byName[name]
		if !ok {
			return nil, &Error{Op: op, Type: ei.name, Field: name, Err: ErrUnknownField}
		}
		val, _ := m.Field(name)
		if err := assign(v.Field(i), val); err != nil {
			return nil, &Error{Op: op, Type: ei.name, Field: name, Err: err}
		}
		isSet[name] = true
	}
	if m.Op().Is(ent.OpUpdateOne) {
		// The stored fields Seal reads but does not write (the subject, a
		// record field): from the entity as it is.
		for name, i := range ei.byName {
			if isSet[name] || ei.written[name] {
				continue
			}
			old, err := m.OldField(ctx, name)
			if err != nil {
				continue // not a field of the mutation (the ID), or not loaded
			}
			if err := assign(v.Field(i), old); err != nil {
				return nil, &Error{Op: op, Type: ei.name, Field: name, Err: err}
			}
		}
	}
	orig := reflect.New(ei.typ).Elem()
	orig.Set(v)
	if err := p.Seal(ctx, v.Addr().Interface()); err != nil {
		return nil, &Error{Op: op, Type: ei.name, Err: err}
	}
	type change struct {
		name string
		old  ent.Value
		set  bool
	}
	var changes []change
	undo := func() {
		for _, c := range changes {
			if c.set {
				m.SetField(c.name, c.old)
			} else {
				m.ResetField(c.name)
			}
		}
	}
	for name := range ei.written {
		i := ei.byName[name]
		if reflect.DeepEqual(orig.Field(i).Interface(), v.Field(i).Interface()) {
			continue
		}
		old, _ := m.Field(name)
		changes = append(changes, change{name: name, old: old, set: isSet[name]})
		if err := m.SetField(name, v.Field(i).Interface()); err != nil {
			undo()
			return nil, &Error{Op: op, Type: ei.name, Field: name, Err: err}
		}
	}
	return undo, nil
}

// assign sets dst to val, which ent gives with the field's Go type.
func assign(dst reflect.Value, val ent.Value) error {
	rv := reflect.ValueOf(val)
	if !rv.IsValid() {
		dst.SetZero()
		return nil
	}
	if rv.Type().AssignableTo(dst.Type()) {
		dst.Set(rv)
		return nil
	}
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Type().AssignableTo(dst.Type()) {
		dst.Set(rv.Elem())
		return nil
	}
	if rv.Type().ConvertibleTo(dst.Type()) && rv.Kind() == dst.Kind() {
		dst.Set(rv.Convert(dst.Type()))
		return nil
	}
	return fmt.Errorf("%w: a %v for a field of type %v", pii.ErrInvalidArgument, rv.Type(), dst.Type())
}

// Interceptor returns an ent interceptor that opens the entities of type T
// that queries return (All, First, Only, ...: pii's OpenEach, entity by
// entity). If one does not open (a forgotten subject, a tampered value)
// the query fails with an *OpenError naming each entity's error (ent
// returns no entities with an error); with pii.WithErasedPlaceholder
// those of forgotten subjects open to the placeholder instead, and Raw
// with pii's OpenEach reads a page entity by entity. Register it on T's client:
// client.Customer.Intercept(entfc.Interceptor[ent.Customer](p)).
func Interceptor[T any](p *pii.Protector) ent.Interceptor {
	return ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			v, err := next.Query(ctx, q)
			if err != nil || isRaw(ctx) {
				return v, err
			}
			ei := infoFor[T]()
			switch vv := v.(type) {
			case []*T:
				if ei.err != nil {
					return v, &Error{Op: "query", Type: ei.name, Err: ei.err}
				}
				errs, err := p.OpenEach(ctx, vv)
				if err != nil {
					return v, &Error{Op: "query", Type: ei.name, Err: err}
				}
				for _, e := range errs {
					if e != nil {
						return v, &OpenError{Type: ei.name, Errs: errs}
					}
				}
			case *T:
				if ei.err != nil {
					return v, &Error{Op: "query", Type: ei.name, Err: ei.err}
				}
				if vv != nil {
					if err := p.Open(ctx, vv); err != nil {
						return v, &OpenError{Type: ei.name, Errs: []error{err}}
					}
				}
			}
			return v, nil
		})
	})
}

// FindByIndex returns the entities of T whose blind index named index
// holds values, opened: query is called with the terms of pii.IndexTerms
// (one per live index key version) and a Raw context, and should return
// the entities whose index column holds one of them (with ent's generated
// predicate: client.Customer.Query().Where(customer.EmailIdxIn(terms...)).All(ctx));
// pii.Matches then opens them and drops false positives and the entities
// of forgotten subjects.
func FindByIndex[T any](ctx context.Context, p *pii.Protector, query func(ctx context.Context, terms []string) ([]*T, error), index string, values ...string) ([]*T, error) {
	terms, err := pii.IndexTerms[T](ctx, p, index, values...)
	if err != nil {
		return nil, err
	}
	candidates, err := query(Raw(ctx), terms)
	if err != nil {
		return nil, err
	}
	return pii.Matches(ctx, p, candidates, index, values...)
}
