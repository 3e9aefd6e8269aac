package pii

import (
	"fmt"
	"reflect"
	"sync"
)

// The scope bound into every ciphertext is the struct type's Go name unless
// a blank field declares scope=. A name is not a type: billing.Customer,
// crm.Customer and a Customer declared inside a function all have the name
// "Customer", and every unnamed struct type has the name "". So that two
// types never share a scope by accident, the first struct type that uses
// a name as its implicit scope owns it for the life of the process: another
// type with that name and protected fields, and no scope= of its own, is
// refused with a TagError (and so is an unnamed struct type holding
// protected fields without scope=). Explicit scope= declarations are never
// refused: sharing a scope on purpose is how a type is renamed.

var implicitScopes sync.Map // scope name -> reflect.Type that owns it

// registerScopes claims the implicit scopes of the types built in this
// batch, refusing types whose scope is taken by another type.
func (b *builder) registerScopes() {
	for t, st := range b.local {
		if st.err != nil || st.scopeSet || !usesScope(st, map[*structPlan]bool{}) {
			continue
		}
		if t.Name() == "" {
			st.fail(&TagError{Type: t, Reason: "an unnamed struct type holding protected fields needs a scope: declare one with a blank field _ struct{} `pii:\"scope=NAME\"`, or give the type a name"})
			continue
		}
		owner, _ := implicitScopes.LoadOrStore(st.scope, t)
		if owner != t {
			st.fail(&TagError{Type: t, Reason: fmt.Sprintf("the scope %q bound into its ciphertexts is already used by another type of that name, %v (%s): values of one would open as values of the other. Declare a distinct scope in at least one of them with a blank field _ struct{} `pii:\"scope=NAME\"` (in the type whose data already exists, set NAME to %q so that its values keep opening)", st.scope, owner, typeOrigin(owner.(reflect.Type)), st.scope)})
		}
	}
}

// usesScope reports whether st's scope is bound into ciphertexts: it has
// encrypted or token fields at its own level, or promoted from embedded
// structs.
func usesScope(st *structPlan, seen map[*structPlan]bool) bool {
	if seen[st] {
		return false
	}
	seen[st] = true
	for _, f := range st.fields {
		if f.name != "" {
			return true
		}
		if f.inline {
			n := f.node
			if n.kind == nPtr {
				n = n.elem
			}
			if usesScope(n.st, seen) {
				return true
			}
		}
	}
	return false
}

func typeOrigin(t reflect.Type) string {
	if t.PkgPath() == "" {
		return "no package"
	}
	return "package " + t.PkgPath()
}
