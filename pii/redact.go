package pii

import (
	"cmp"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"sync"
)

// Redacted is what LogValue shows in place of a protected value.
const Redacted = "[redacted]"

// LogValue returns a slog value for v (a struct or a pointer to one) that
// shows every field except the protected ones: fields tagged encrypt or
// token appear as "[redacted]" whether they are sealed or not. Nested
// structs, and slices, arrays, maps and pointers of them, are shown the same
// way, element by element (a slice as a group keyed "0", "1", ...; a map as
// a group keyed by its keys, in order). A value behind an interface (any,
// []any, map[string]any, ...) that holds a struct with protected fields
// anywhere in it is shown as "[redacted]" whole, as Seal refuses it
// (ErrUnprotectedInterface); other such values are shown. Give your model a
// LogValue method so that it never reaches a log in the clear:
//
//	func (c Customer) LogValue() slog.Value { return pii.LogValue(c) }
//
// or wrap the application's handler in a RedactingHandler, which does this
// for every tagged value of every record.
//
// The subject field is shown: it identifies the record. If it is personal
// data itself (an email used as an ID), tag a copy of it instead, or log
// something else. A type with invalid tags logs as "[redacted]" whole. A
// nested value that implements slog.LogValuer is shown as its LogValue,
// itself redacted. Values nested deeper than 16 levels show as "[…]".
func LogValue(v any) slog.Value {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return slog.AnyValue(nil)
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return slog.StringValue(Redacted)
	}
	if planFor(rv.Type()).err != nil {
		return slog.StringValue(Redacted)
	}
	// The struct itself, not its LogValue method: LogValue is typically
	// what that method calls.
	return redactStruct(rv, 0)
}

// maxLogDepth stops the walk in values that refer to themselves.
const maxLogDepth = 16

// tooDeep is shown in place of a value nested deeper than maxLogDepth.
const tooDeep = "[…]"

var logValuerType = reflect.TypeFor[slog.LogValuer]()

// redactValue returns v with every protected value in it redacted, and
// every slog.LogValuer in it resolved (so that a handler further down,
// which resolves what it is given, never calls one and prints its output
// unredacted).
func redactValue(v slog.Value, depth int) slog.Value {
	if depth > maxLogDepth {
		return slog.StringValue(tooDeep)
	}
	switch v.Kind() {
	case slog.KindLogValuer:
		// Resolve recovers from a panicking LogValue method and stops
		// LogValue methods that return each other.
		return redactValue(v.Resolve(), depth+1)
	case slog.KindGroup:
		as := v.Group()
		out := make([]slog.Attr, len(as))
		for i, a := range as {
			out[i] = slog.Attr{Key: a.Key, Value: redactValue(a.Value, depth+1)}
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		return redactAny(reflect.ValueOf(v.Any()), depth)
	}
	return v
}

// redactAny renders rv for slog with its protected values redacted.
func redactAny(rv reflect.Value, depth int) slog.Value {
	if depth > maxLogDepth {
		return slog.StringValue(tooDeep)
	}
	if !rv.IsValid() {
		return slog.AnyValue(nil)
	}
	if !rv.CanInterface() {
		return slog.StringValue(Redacted) // not reachable from the walk below: defensive
	}
	t := rv.Type()
	if t.Kind() != reflect.Interface && t.Implements(logValuerType) {
		if t.Kind() == reflect.Pointer && rv.IsNil() {
			return slog.AnyValue(nil)
		}
		return redactValue(slog.AnyValue(rv.Interface()).Resolve(), depth+1)
	}
	if !logMayHold(t) {
		return slog.AnyValue(rv.Interface())
	}
	switch rv.Kind() {
	case reflect.Interface:
		if rv.IsNil() {
			return slog.AnyValue(nil)
		}
		// Seal refuses a tagged struct behind an interface
		// (ErrUnprotectedInterface): it has no stable shape to seal. It
		// is not shown either, not even redacted.
		if holdsTaggedBehindInterface(rv) {
			return slog.StringValue(Redacted)
		}
		return redactAny(rv.Elem(), depth+1)
	case reflect.Pointer:
		if rv.IsNil() {
			return slog.AnyValue(nil)
		}
		return redactAny(rv.Elem(), depth+1)
	case reflect.Struct:
		return redactStruct(rv, depth)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return slog.AnyValue(nil)
		}
		out := make([]slog.Attr, rv.Len())
		for i := range out {
			out[i] = slog.Attr{Key: strconv.Itoa(i), Value: redactAny(rv.Index(i), depth+1)}
		}
		return slog.GroupValue(out...)
	case reflect.Map:
		if rv.IsNil() {
			return slog.AnyValue(nil)
		}
		// Keys that may hold protected values are not shown: only
		// values are walked, as Seal walks them.
		showKeys := !logMayHold(t.Key())
		out := make([]slog.Attr, 0, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			key := Redacted
			if showKeys {
				key = fmt.Sprint(iter.Key().Interface())
			}
			out = append(out, slog.Attr{Key: key, Value: redactAny(iter.Value(), depth+1)})
		}
		slices.SortStableFunc(out, func(a, b slog.Attr) int { return cmp.Compare(a.Key, b.Key) })
		if !showKeys {
			for i := range out {
				out[i].Key = Redacted + "#" + strconv.Itoa(i)
			}
		}
		return slog.GroupValue(out...)
	}
	return slog.AnyValue(rv.Interface())
}

// How redactStruct shows one field.
const (
	showPlain    = iota // as it is: it cannot hold protected values
	showRedacted        // tagged encrypt or token: "[redacted]"
	showWalked          // leads to protected values: walked by redactAny
	showDynamic         // may hold them behind an interface: "[redacted]" whole if it does
)

type logField struct {
	index int
	name  string
	show  uint8
}

// logPlan is, per struct type, how LogValue shows its fields; nil fields
// and bad set for a type with invalid tags.
type logPlan struct {
	bad    bool
	fields []logField
}

var logPlans sync.Map // reflect.Type -> *logPlan

func logPlanFor(t reflect.Type) *logPlan {
	if lp, ok := logPlans.Load(t); ok {
		return lp.(*logPlan)
	}
	st := planFor(t).st
	lp := &logPlan{bad: st.err != nil}
	if !lp.bad {
		protected, planned := map[int]bool{}, map[int]bool{}
		for _, f := range st.fields {
			planned[f.index] = true
			if f.name != "" {
				protected[f.index] = true
			}
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if sf.Name == "_" {
				continue
			}
			if !sf.IsExported() {
				// Unexported fields are not shown, except embedded
				// structs, whose exported fields are promoted.
				if inner, _ := embeddedStruct(sf.Type); !sf.Anonymous || inner == nil {
					continue
				}
			}
			show := uint8(showPlain)
			switch {
			case protected[i]:
				show = showRedacted
			case planned[i] || sf.Type.Implements(logValuerType):
				show = showWalked
			case logMayHold(sf.Type):
				show = showDynamic
			}
			lp.fields = append(lp.fields, logField{index: i, name: sf.Name, show: show})
		}
	}
	actual, _ := logPlans.LoadOrStore(t, lp)
	return actual.(*logPlan)
}

// logMayHold reports whether a value of type t may hold a struct with
// protected fields or an interface value: mayHold, which Seal uses, and
// also in map keys, which Seal never walks but a log would print.
func logMayHold(t reflect.Type) bool {
	if mayHold(t) {
		return true
	}
	if v, ok := keyHolds.Load(t); ok {
		return v.(bool)
	}
	v := keysMayHold(t, map[reflect.Type]bool{})
	keyHolds.Store(t, v)
	return v
}

var keyHolds sync.Map // reflect.Type -> bool

// keysMayHold reports whether t has, somewhere in it, a map whose keys may
// hold a struct with protected fields.
func keysMayHold(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if visiting[t] {
		return false
	}
	visiting[t] = true
	switch t.Kind() {
	case reflect.Map:
		return mayHold(t.Key()) || keysMayHold(t.Key(), visiting) || keysMayHold(t.Elem(), visiting)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return keysMayHold(t.Elem(), visiting)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); inspectable(f) && keysMayHold(f.Type, visiting) {
				return true
			}
		}
	}
	return false
}

// redactStruct shows struct v as a group of its fields, protected ones
// redacted.
func redactStruct(v reflect.Value, depth int) slog.Value {
	if depth > maxLogDepth {
		return slog.StringValue(tooDeep)
	}
	lp := logPlanFor(v.Type())
	if lp.bad {
		return slog.StringValue(Redacted)
	}
	attrs := make([]slog.Attr, len(lp.fields))
	for i, f := range lp.fields {
		fv := v.Field(f.index)
		var val slog.Value
		switch {
		case f.show == showRedacted:
			val = slog.StringValue(Redacted)
		case !fv.CanInterface():
			// An embedded unexported struct (or pointer to one): its
			// exported fields are shown.
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					val = slog.AnyValue(nil)
					break
				}
				fv = fv.Elem()
			}
			val = redactStruct(fv, depth+1)
		case f.show == showDynamic && holdsTaggedBehindInterface(fv):
			// As Seal refuses it (ErrUnprotectedInterface).
			val = slog.StringValue(Redacted)
		case f.show != showPlain:
			val = redactAny(fv, depth+1)
		default:
			val = slog.AnyValue(fv.Interface())
		}
		attrs[i] = slog.Attr{Key: f.name, Value: val}
	}
	return slog.GroupValue(attrs...)
}
