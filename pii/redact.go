package pii

import (
	"log/slog"
	"reflect"
)

// Redacted is what LogValue shows in place of a protected value.
const Redacted = "[redacted]"

// LogValue returns a slog value for v (a struct or a pointer to one) that
// shows every field except the protected ones: fields tagged encrypt or
// token, and any slice, array, map or pointer that holds them, appear as
// "[redacted]" whether they are sealed or not. Nested structs are shown the
// same way. Give your model a LogValue method so that it never reaches a
// log in the clear:
//
//	func (c Customer) LogValue() slog.Value { return pii.LogValue(c) }
//
// The subject field is shown: it identifies the record. If it is personal
// data itself (an email used as an ID), tag a copy of it instead, or log
// something else. A type with invalid tags logs as "[redacted]" whole. An
// untagged field that holds, behind an interface (any, []any, map[string]any,
// ...), a struct with protected fields is shown as "[redacted]" whole.
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
	rp := planFor(rv.Type())
	if rp.err != nil {
		return slog.StringValue(Redacted)
	}
	return logStruct(rv, rp.st, 0)
}

// maxLogDepth stops the walk in values that refer to themselves.
const maxLogDepth = 16

func logStruct(v reflect.Value, st *structPlan, depth int) slog.Value {
	if depth > maxLogDepth {
		return slog.StringValue("[…]")
	}
	protected := map[int]*fieldPlan{}
	for i := range st.fields {
		protected[st.fields[i].index] = &st.fields[i]
	}
	t := v.Type()
	dyn := map[int]bool{}
	for _, i := range dynOf(t).fields {
		dyn[i] = true
	}
	attrs := make([]slog.Attr, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		fv := v.Field(i)
		f, walked := protected[i]
		switch {
		case !walked && dyn[i] && holdsTaggedBehindInterface(fv):
			// A struct with protected fields behind an interface.
			if sf.IsExported() {
				attrs = append(attrs, slog.String(sf.Name, Redacted))
			}
		case !walked:
			if sf.IsExported() {
				attrs = append(attrs, slog.Any(sf.Name, fv.Interface()))
			}
		case f.name != "":
			attrs = append(attrs, slog.String(sf.Name, Redacted))
		case f.node.kind == nStruct:
			attrs = append(attrs, slog.Attr{Key: sf.Name, Value: logStruct(fv, f.node.st, depth+1)})
		case f.node.kind == nPtr && f.node.elem.kind == nStruct:
			if fv.IsNil() {
				attrs = append(attrs, slog.Any(sf.Name, nil))
			} else {
				attrs = append(attrs, slog.Attr{Key: sf.Name, Value: logStruct(fv.Elem(), f.node.elem.st, depth+1)})
			}
		default:
			// A slice, array or map that holds protected values.
			attrs = append(attrs, slog.String(sf.Name, Redacted))
		}
	}
	return slog.GroupValue(attrs...)
}
