package pii

import (
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/internal/valuecodec"
)

// Plans for Sealed fields (sealed.go). A Sealed field is a leaf, like a
// string or []byte field tagged encrypt: its node (nSealed) carries the
// codec of its type parameter, found once, when the plan is made.

// sealedLeaf returns the leaf node of Sealed type t, or nil and why it
// cannot be protected. token: the field is tagged token.
func (b *builder) sealedLeaf(t reflect.Type, token bool) (*node, string) {
	if token {
		return nil, fmt.Sprintf("tokens are text: token applies to string fields, not %v", t)
	}
	proto := reflect.New(t).Interface().(sealedValue)
	pt := proto.plainType()
	codec, err := valuecodec.For(pt)
	if err != nil {
		return nil, fmt.Sprintf("%v cannot be sealed: %v has no encoding (want a time.Time, integer, float, bool, string, []byte, or a type implementing encoding.BinaryMarshaler or TextMarshaler with the matching Unmarshaler)", t, pt)
	}
	return b.newNode(&node{kind: nSealed, typ: t, codec: codec, sealed: proto, work: true}), ""
}

// checkSealedField refuses deterministic encryption of a Sealed field
// whose values have no canonical encoding.
func (b *builder) checkSealedField(st *structPlan, f reflect.StructField, fp *fieldPlan) *TagError {
	n := fp.node
	for n.elem != nil {
		n = n.elem
	}
	if n.kind != nSealed || fp.mode != envelope.Deterministic || n.codec.Canonical() {
		return nil
	}
	return b.tagError(st, f, "deterministic encryption needs equal values to encode to equal bytes, and %v is encoded by its own marshaling method, which fieldcrypt cannot vouch for: drop deterministic", n.codec.Type())
}

// sealedRootError is the error of the plan of a Sealed type itself: a
// Sealed value is sealed as a field of a struct that has a subject, not on
// its own (and not behind an interface, which makes the value's plan
// report this error).
func sealedRootError(t reflect.Type) *TagError {
	return &TagError{Type: t, Reason: "a pii.Sealed value is sealed as a field of a struct with a subject, not on its own"}
}
