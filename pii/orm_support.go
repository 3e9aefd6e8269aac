package pii

import (
	"fmt"
	"reflect"
	"slices"
)

// WrittenField is a field of a struct type that Seal writes: see
// WrittenFields.
type WrittenField struct {
	// Path is the field's index path from the struct type, as
	// reflect.Type.FieldByIndex takes it (through embedded structs, whose
	// fields are promoted).
	Path []int
	// Index is the index name (name=, or the Go field name) of a
	// blind-index field, "" for any other field.
	Index string
}

// WrittenFields lists the fields of struct type t (or a pointer to one)
// that Seal writes, in field order: every protected field (encrypt, token,
// Sealed, and a field that holds protected values deeper down — a nested
// struct, a slice, a map — as one path), every tokenmac field and every
// blind-index field. Their columns must only ever receive what Seal wrote.
// It is for adapters that map struct fields to columns (ORM plugins); the
// plan is the one Seal uses, cached per type. It fails with the error
// Check would return for an invalid t, and ErrInvalidArgument for a t
// that is not a struct type.
func WrittenFields(t reflect.Type) ([]WrittenField, error) {
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v is not a struct type", ErrInvalidArgument, t)
	}
	rp := planFor(t)
	if rp.err != nil {
		return nil, rp.err
	}
	var out []WrittenField
	var walk func(st *structPlan, path []int)
	walk = func(st *structPlan, path []int) {
		for _, f := range st.fields {
			p := append(slices.Clip(path), f.index)
			if f.inline {
				n := f.node
				if n.kind == nPtr {
					n = n.elem
				}
				walk(n.st, p)
				continue
			}
			out = append(out, WrittenField{Path: p})
			if f.hasMAC {
				out = append(out, WrittenField{Path: append(slices.Clip(path), f.macIndex)})
			}
		}
		for _, ix := range st.indexes {
			out = append(out, WrittenField{Path: append(slices.Clip(path), ix.index), Index: ix.name})
		}
	}
	walk(rp.st, nil)
	slices.SortStableFunc(out, func(a, b WrittenField) int { return slices.Compare(a.Path, b.Path) })
	return out, nil
}
