package gormfc

import (
	"reflect"

	"gorm.io/gorm"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// What the caller's value holds after Create or Update: the plugin seals
// the caller's structs in place (GORM builds the statement from them and
// writes primary keys, defaults and timestamps back into them), after
// taking a copy of each; once the statement ran, whether it succeeded or
// failed, every field Seal writes is set back from the copy. The caller
// then holds its plaintext again, plus what GORM wrote back into the
// other fields; the blind-index fields hold what they held before (the
// terms written are in the row only).

// savedKey is the statement setting under which seal leaves the copy.
type savedKey struct{}

// saved is a copy of the structs of one statement, taken before Seal.
type saved struct {
	fields []pii.WrittenField
	elems  []reflect.Value // the caller's structs, addressable
	copies reflect.Value   // a slice of copies of them
}

// snapshot copies the structs of v (a struct, or a slice or array of
// structs or pointers to them) and leaves the copy in the statement for
// restore. It returns nil, and fails the statement, if v cannot be
// written back into.
func snapshot(db *gorm.DB, v reflect.Value, fields []pii.WrittenField) *saved {
	s := &saved{fields: fields}
	switch v.Kind() {
	case reflect.Struct:
		if !v.CanAddr() {
			return nil
		}
		s.elems = []reflect.Value{v}
	case reflect.Slice, reflect.Array:
		s.elems = make([]reflect.Value, 0, v.Len())
		for i := range v.Len() {
			e := v.Index(i)
			if e.Kind() == reflect.Pointer {
				if e.IsNil() {
					continue
				}
				e = e.Elem()
			}
			if e.Kind() != reflect.Struct || !e.CanAddr() {
				continue
			}
			s.elems = append(s.elems, e)
		}
	default:
		return nil
	}
	if len(s.elems) == 0 {
		return nil
	}
	s.copies = reflect.MakeSlice(reflect.SliceOf(s.elems[0].Type()), len(s.elems), len(s.elems))
	for i, e := range s.elems {
		s.copies.Index(i).Set(e)
	}
	db.Statement.Settings.Store(savedKey{}, s)
	return s
}

// restore sets the fields Seal writes back from the copy: it runs after
// gorm:create and gorm:update, whether they succeeded or not.
func restore(db *gorm.DB) {
	v, ok := db.Statement.Settings.LoadAndDelete(savedKey{})
	if !ok {
		return
	}
	s := v.(*saved)
	for i, e := range s.elems {
		c := s.copies.Index(i)
		for _, f := range s.fields {
			dst, err := e.FieldByIndexErr(f.Path)
			if err != nil {
				continue
			}
			src, err := c.FieldByIndexErr(f.Path)
			if err != nil {
				continue
			}
			dst.Set(src)
		}
	}
}
