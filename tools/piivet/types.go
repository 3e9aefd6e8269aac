package piivet

import (
	"go/types"
	"reflect"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// A sink is how a value is printed: by fmt (and log, and slog's text
// handler), by encoding/json (and slog's JSON handler), or written to a
// database (every protected field counts, whatever its methods).
type sink uint8

const (
	sinkFmt sink = iota
	sinkJSON
	sinkDB
)

// protectedTag reports whether a struct tag marks its field as protected:
// `pii:"encrypt..."` or `pii:"token..."`, the fields Seal encrypts.
func protectedTag(tag string) bool {
	v, ok := reflect.StructTag(tag).Lookup("pii")
	if !ok {
		return false
	}
	head, _, _ := strings.Cut(v, ",")
	return head == "encrypt" || head == "token"
}

// skippedTag reports whether a struct tag is `pii:"-"`.
func skippedTag(tag string) bool {
	v, _ := reflect.StructTag(tag).Lookup("pii")
	return v == "-"
}

// jsonSkipped reports whether encoding/json leaves a field out: `json:"-"`.
func jsonSkipped(tag string) bool {
	v, _ := reflect.StructTag(tag).Lookup("json")
	return v == "-"
}

// typeChecker answers, per type and sink, where a protected field is
// printed in the clear. Tags are read from go/types, which has them for
// types of imported packages too (they are part of export data), so no
// analysis facts are needed.
type typeChecker struct {
	methods typeutil.MethodSetCache
	memo    map[memoKey]string
	busy    map[memoKey]bool
}

type memoKey struct {
	t       types.Type
	s       sink
	top     bool
	methods bool
}

func newTypeChecker() *typeChecker {
	return &typeChecker{memo: map[memoKey]string{}, busy: map[memoKey]bool{}}
}

// hasMethod reports whether the method set of t has a method called name.
func (tc *typeChecker) hasMethod(t types.Type, name string) bool {
	ms := tc.methods.MethodSet(t)
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Obj().Name() == name {
			return true
		}
	}
	return false
}

// safe reports whether values of t print themselves for sink s through a
// method (which piivet trusts to redact).
func (tc *typeChecker) safe(t types.Type, s sink) bool {
	switch s {
	case sinkFmt:
		return tc.hasMethod(t, "String") || tc.hasMethod(t, "Error") ||
			tc.hasMethod(t, "Format") || tc.hasMethod(t, "GoString")
	case sinkJSON:
		// json calls a pointer method on an addressable value too:
		// accept either.
		if _, isPtr := t.Underlying().(*types.Pointer); !isPtr {
			if _, isIface := t.Underlying().(*types.Interface); !isIface {
				if tc.hasMethod(types.NewPointer(t), "MarshalJSON") || tc.hasMethod(types.NewPointer(t), "MarshalText") {
					return true
				}
			}
		}
		return tc.hasMethod(t, "MarshalJSON") || tc.hasMethod(t, "MarshalText")
	}
	return false
}

// leak returns the path to a protected field that sink s shows in the
// clear when given a value of static type t ("" if none): "Name",
// "Phones[].Number", "Home.Street". top says the value is the argument
// itself (fmt follows pointers only there); methods says its methods are
// used (fmt ignores them on unexported fields).
func (tc *typeChecker) leak(t types.Type, s sink, top, methods bool) string {
	k := memoKey{t, s, top, methods}
	if p, ok := tc.memo[k]; ok {
		return p
	}
	if tc.busy[k] {
		return "" // a recursive type: its other paths are being looked at
	}
	tc.busy[k] = true
	p := tc.leak1(t, s, top, methods)
	delete(tc.busy, k)
	tc.memo[k] = p
	return p
}

func (tc *typeChecker) leak1(t types.Type, s sink, top, methods bool) string {
	if s != sinkDB && methods && tc.safe(t, s) {
		return ""
	}
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		if s == sinkFmt && !top {
			return "" // fmt prints a nested pointer as an address
		}
		return tc.leak(u.Elem(), s, false, methods)
	case *types.Slice:
		if isByte(u.Elem()) {
			return ""
		}
		return prefix("[]", tc.leak(u.Elem(), s, false, methods))
	case *types.Array:
		return prefix("[]", tc.leak(u.Elem(), s, false, methods))
	case *types.Map:
		if p := tc.leak(u.Key(), s, false, methods); p != "" {
			return prefix("[key]", p)
		}
		return prefix("[]", tc.leak(u.Elem(), s, false, methods))
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			f, tag := u.Field(i), u.Tag(i)
			if s == sinkJSON && ((!f.Exported() && !f.Embedded()) || jsonSkipped(tag)) {
				continue
			}
			if protectedTag(tag) {
				return f.Name()
			}
			if skippedTag(tag) {
				continue // pii:"-": left alone knowingly, as Seal leaves it
			}
			// fmt cannot call the methods of an unexported field's value.
			fieldMethods := s != sinkFmt || (methods && f.Exported())
			if p := tc.leak(f.Type(), s, false, fieldMethods); p != "" {
				return prefix(f.Name(), p)
			}
		}
	}
	return ""
}

func prefix(pre, p string) string {
	if p == "" {
		return ""
	}
	if strings.HasPrefix(p, "[") {
		return pre + p
	}
	return pre + "." + p
}

func isByte(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Kind() == types.Byte
}

// slogLeak returns the path to a protected field that log/slog shows in
// the clear for a value of static type t: none if t has a LogValue method
// (slog calls it), else what fmt (TextHandler) or encoding/json
// (JSONHandler) would show.
func (tc *typeChecker) slogLeak(t types.Type) string {
	if tc.hasMethod(t, "LogValue") {
		return ""
	}
	if p := tc.leak(t, sinkFmt, true, true); p != "" {
		return p
	}
	return tc.leak(t, sinkJSON, true, true)
}
