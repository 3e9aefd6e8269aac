package pii

import (
	"reflect"
	"sync"
	"unsafe"
)

// Values behind interfaces. Plans are made from static types, so a struct
// with protected fields held by an `any` field (or a slice, map or pointer
// of them) is not in any plan: Seal would leave it in the clear and LogValue
// would print it. Seal and Open therefore look, read-only, into every value
// that an interface may reach, and refuse (ErrUnprotectedInterface) when
// they find such a struct. They follow what encoding/json follows: exported
// and embedded fields, pointers, slices, arrays, map values and interfaces.
//
// Refusing rather than sealing: a value behind an interface has no stable
// shape to open again (a database or JSON round trip gives back a
// map[string]any, not the struct), so sealing it would produce data that
// Open cannot find. A concrete field type is the fix, and the error says
// where.

// dynType is what is known, per struct type, about values behind
// interfaces.
type dynType struct {
	// tagged: the type has protected fields (or invalid tags), so a value
	// of it behind an interface is refused.
	tagged bool
	// fields are the indices of the fields to look into: untagged,
	// exported or embedded, able to hold an interface value or a tagged
	// struct, and not walked by the type's plan (the walker already
	// visits those and the structs in them).
	fields []int
}

var (
	dynTypes sync.Map // reflect.Type (struct) -> *dynType
	mayHolds sync.Map // reflect.Type -> bool
)

func dynOf(t reflect.Type) *dynType {
	if d, ok := dynTypes.Load(t); ok {
		return d.(*dynType)
	}
	st := planFor(t).st
	d := &dynType{tagged: st.work}
	planned := map[int]bool{}
	for _, f := range st.fields {
		planned[f.index] = true
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if planned[i] || !inspectable(f) {
			continue
		}
		if mayHold(f.Type) {
			d.fields = append(d.fields, i)
		}
	}
	actual, _ := dynTypes.LoadOrStore(t, d)
	return actual.(*dynType)
}

// inspectable reports whether the search looks into field f: untagged,
// and exported or embedded.
func inspectable(f reflect.StructField) bool {
	if f.Name == "_" || (!f.IsExported() && !f.Anonymous) {
		return false
	}
	_, tagged := f.Tag.Lookup(tagName)
	return !tagged
}

// mayHold reports whether a value of type t may hold, somewhere inside it,
// an interface value or a struct with protected fields.
func mayHold(t reflect.Type) bool {
	if v, ok := mayHolds.Load(t); ok {
		return v.(bool)
	}
	v, _ := mayHoldRec(t, map[reflect.Type]bool{})
	return v
}

// mayHoldRec computes mayHold. A negative answer that relied on a type
// still being computed (a recursive type) is provisional and not cached.
func mayHoldRec(t reflect.Type, visiting map[reflect.Type]bool) (result, provisional bool) {
	if v, ok := mayHolds.Load(t); ok {
		return v.(bool), false
	}
	if visiting[t] {
		return false, true
	}
	switch t.Kind() {
	case reflect.Interface:
		result = true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		visiting[t] = true
		result, provisional = mayHoldRec(t.Elem(), visiting)
		delete(visiting, t)
	case reflect.Struct:
		if planFor(t).st.work {
			result = true
			break
		}
		visiting[t] = true
		for i := 0; i < t.NumField() && !result; i++ {
			f := t.Field(i)
			if !inspectable(f) {
				continue
			}
			r, p := mayHoldRec(f.Type, visiting)
			result, provisional = r, provisional || p
		}
		delete(visiting, t)
	}
	if result || !provisional {
		mayHolds.Store(t, result)
		provisional = false
	}
	return result, provisional
}

// inspector searches values behind interfaces, without changing them.
type inspector struct {
	seen  map[seenKey]struct{} // pointers, slices and maps already searched
	depth int
	// steps is the path from where the search started to what it found,
	// innermost first.
	steps    []pathNode
	tooDeep  bool
	searched int // values looked at, for tests
}

type seenKey struct {
	ptr unsafe.Pointer
	typ reflect.Type
	len int
}

func (in *inspector) reset() {
	if in.searched == 0 {
		return // no search since the last reset: nothing to clear
	}
	clear(in.seen)
	in.depth, in.steps, in.tooDeep, in.searched = 0, in.steps[:0], false, 0
}

// find reports whether v holds a struct with protected fields behind an
// interface (or is one, when behindIface), recording the path to it in
// in.steps. A value nested deeper than MaxDepth sets in.tooDeep and counts
// as found.
func (in *inspector) find(v reflect.Value, behindIface bool) bool {
	in.searched++
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return false
		}
		return in.deeper(v.Elem(), true, noStep)
	case reflect.Pointer:
		if v.IsNil() || !mayHold(v.Type().Elem()) || in.visited(v, 0) {
			return false
		}
		return in.deeper(v.Elem(), behindIface, noStep)
	case reflect.Struct:
		d := dynOf(v.Type())
		if d.tagged {
			return behindIface
		}
		for _, i := range d.fields {
			if in.find(v.Field(i), behindIface) {
				in.steps = append(in.steps, pathNode{name: v.Type().Field(i).Name, index: -1})
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		n := v.Len()
		if n == 0 || !mayHold(v.Type().Elem()) {
			return false
		}
		if v.Kind() == reflect.Slice && in.visited(v, n) {
			return false
		}
		for i := 0; i < n; i++ {
			step := pathNode{index: int32(i)}
			if v.Kind() == reflect.Array {
				// Part of the value that holds it: no deeper.
				if in.find(v.Index(i), behindIface) {
					in.steps = append(in.steps, step)
					return true
				}
				continue
			}
			if in.deeper(v.Index(i), behindIface, step) {
				return true
			}
		}
	case reflect.Map:
		if v.Len() == 0 || !mayHold(v.Type().Elem()) || in.visited(v, 0) {
			return false
		}
		iter := v.MapRange()
		for iter.Next() {
			if in.deeper(iter.Value(), behindIface, pathNode{index: -2}) {
				return true
			}
		}
	}
	return false
}

// noStep is the step of a level of nesting that adds nothing to the path.
var noStep = pathNode{index: -3}

// deeper searches v one level of nesting deeper, adding step (unless
// noStep) to the path of what it finds.
func (in *inspector) deeper(v reflect.Value, behindIface bool, step pathNode) bool {
	if in.depth >= MaxDepth {
		in.tooDeep = true
		return true
	}
	in.depth++
	found := in.find(v, behindIface)
	in.depth--
	if found && step.index != noStep.index {
		in.steps = append(in.steps, step)
	}
	return found
}

// visited reports whether the pointer, slice or map v was searched before,
// and records it if not.
func (in *inspector) visited(v reflect.Value, n int) bool {
	k := seenKey{ptr: v.UnsafePointer(), typ: v.Type(), len: n}
	if in.seen == nil {
		in.seen = map[seenKey]struct{}{}
	}
	if _, ok := in.seen[k]; ok {
		return true
	}
	in.seen[k] = struct{}{}
	return false
}

// checkInterfaces searches the fields of struct v (of plan st) that the
// plan does not walk for values behind interfaces, and sets w.err if one
// holds a struct with protected fields.
//
// What to search is known per type, and cached in the plan (st.dyn): most
// types hold no interface, and the walker does not call checkInterfaces
// for them once that is known.
func (w *walker) checkInterfaces(v reflect.Value, st *structPlan, path int32) {
	d := st.dyn.Load()
	if d == nil {
		d = dynOf(st.typ)
		st.dyn.Store(d)
	}
	for _, i := range d.fields {
		in := &w.inspect
		in.steps = in.steps[:0]
		if !in.find(v.Field(i), false) {
			continue
		}
		p := w.push(path, st.typ.Field(i).Name, -1)
		for j := len(in.steps) - 1; j >= 0; j-- {
			s := in.steps[j]
			p = w.push(p, s.name, s.index)
		}
		err := ErrUnprotectedInterface
		if in.tooDeep {
			err = ErrTooDeep
		}
		w.err = &FieldError{Path: w.pathString(p), Err: err}
		return
	}
}

// holdsTaggedBehindInterface reports whether v holds a struct with
// protected fields behind an interface, for LogValue. A value too deep to
// search counts as holding one.
func holdsTaggedBehindInterface(v reflect.Value) bool {
	var in inspector
	return in.find(v, false)
}
