package pii

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/mask"
)

// Purposes and masks in the plan (purpose.go has the rules). The tag
// options purpose= and mask= are parsed with the rest of the tag
// (tags.go), checked against the field's type when the plan is made, and
// kept in the field plan as a fieldACL; structPlan.aclReach says whether
// any field reachable from a type has one, so that Seal and Open of types
// without them pay one flag test.

// aclTag is the purpose= and mask= options of an encrypt or token tag.
type aclTag struct {
	purposes []string  // purpose=a|b, in tag order; nil: every purpose
	mask     mask.Kind // mask=KIND; "": none
}

// errGlobalPurpose refuses purpose= on a scope=global token.
var errGlobalPurpose = errors.New("purpose= cannot restrict a scope=global token: it is made with the global key, so anyone who can Seal a guessed value gets the same token and compares it, whatever the purpose; it has no subject whose consent could be checked, and it survives Forget. Use a subject-scoped token, or no purpose=")

// option parses purpose=a|b or mask=KIND.
func (a *aclTag) option(key, value string, hasValue bool) error {
	switch key {
	case "purpose":
		if !hasValue || value == "" {
			return fmt.Errorf("purpose= needs one or more purposes, joined by '|' (purpose=billing|support)")
		}
		for _, p := range strings.Split(value, "|") {
			if keystore.ValidatePurpose(p) != nil {
				return fmt.Errorf("purpose %q: a purpose is a lowercase letter, then up to 63 lowercase letters, digits, '_' or '-'", p)
			}
			if slices.Contains(a.purposes, p) {
				return fmt.Errorf("purpose %q listed twice", p)
			}
			a.purposes = append(a.purposes, p)
		}
	case "mask":
		k, err := mask.Parse(value)
		if err != nil {
			return fmt.Errorf("mask=%s: want last4, first1, email or redact", value)
		}
		a.mask = k
	}
	return nil
}

// fieldACL is what the plan keeps of an encrypt or token field for
// purposes: every such field has one (the policy is asked about each), and
// restricted says whether its tag has purpose= or mask=.
type fieldACL struct {
	typ        reflect.Type // the struct type declaring the field
	field      string       // "Customer.Card": the type's name and the Go field's
	purposes   []string
	mask       mask.Kind
	restricted bool
}

// aclOptions checks purpose= and mask= of field f (plan fp) and sets fp.acl.
func (b *builder) aclOptions(st *structPlan, f reflect.StructField, fp *fieldPlan, tg tag) *TagError {
	if tg.acl.mask != "" && leafKind(fp.node) != nString {
		what := fmt.Sprintf("%v is not a string kind", f.Type)
		if leafKind(fp.node) == nSealed {
			what = "a Sealed value is either sealed or opened, never masked"
		}
		return b.tagError(st, f, "mask= applies to string values (and pointers, slices, arrays and maps of them): %s", what)
	}
	fp.acl = &fieldACL{
		typ: st.typ, field: st.name + "." + f.Name,
		purposes: tg.acl.purposes, mask: tg.acl.mask,
		restricted: len(tg.acl.purposes) > 0 || tg.acl.mask != "",
	}
	return nil
}

// finalizeACL sets aclReach on the plans being built: a fixpoint, as for
// work, because types may be recursive. Plans already published have it.
func (b *builder) finalizeACL() {
	for changed := true; changed; {
		changed = false
		for _, st := range b.local {
			if !st.aclReach && st.reachesACL() {
				st.aclReach, changed = true, true
			}
		}
	}
}

func (st *structPlan) reachesACL() bool {
	for i := range st.fields {
		f := &st.fields[i]
		if f.acl != nil && f.acl.restricted {
			return true
		}
		for n := f.node; n != nil; n = n.elem {
			if n.kind == nStruct && n.st.aclReach {
				return true
			}
		}
	}
	return false
}

// purposeUse is one purpose named by a tag.
type purposeUse struct {
	purpose string
	typ     reflect.Type
	field   string // the Go field name
}

// typePurposes caches tagPurposes by root struct plan.
var typePurposes sync.Map // *structPlan -> []purposeUse

// tagPurposes lists every purpose named by the tags of the types reachable
// from st, depth first, fields in order.
func tagPurposes(st *structPlan) []purposeUse {
	if !st.aclReach {
		return nil
	}
	if v, ok := typePurposes.Load(st); ok {
		return v.([]purposeUse)
	}
	var out []purposeUse
	seen := map[*structPlan]bool{}
	var walk func(st *structPlan)
	walk = func(st *structPlan) {
		if seen[st] || !st.aclReach {
			return
		}
		seen[st] = true
		for i := range st.fields {
			f := &st.fields[i]
			if f.acl != nil {
				for _, p := range f.acl.purposes {
					out = append(out, purposeUse{purpose: p, typ: f.acl.typ, field: f.goName})
				}
			}
			for n := f.node; n != nil; n = n.elem {
				if n.kind == nStruct {
					walk(n.st)
				}
			}
		}
	}
	walk(st)
	typePurposes.Store(st, out)
	return out
}

// checkTagPurposes reports every purpose the tags reachable from st name
// that declared does not hold: one *PurposeError, or several joined.
func checkTagPurposes(st *structPlan, declared func(string) bool) error {
	var errs []error
	for _, u := range tagPurposes(st) {
		if !declared(u.purpose) {
			errs = append(errs, &PurposeError{Purpose: u.purpose, Type: u.typ, Field: u.field, Err: ErrUnknownPurpose})
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
