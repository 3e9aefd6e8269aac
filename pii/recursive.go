package pii

import "reflect"

// containerCycle reports whether t is, or leads through pointers, slices,
// arrays and maps alone to, a type that contains itself without a struct in
// between (type L []L, type M map[string]M, type P *P). Such a type holds no
// struct and no string, so nothing in it can be protected; following it
// would never end.
func containerCycle(t reflect.Type) bool {
	var seen []reflect.Type
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		default:
			return false
		}
		for _, s := range seen {
			if s == t {
				return true
			}
		}
		seen = append(seen, t)
		t = t.Elem()
	}
}
