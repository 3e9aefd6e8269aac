package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
)

// indexRef is an index of a type, found by name for a query.
type indexRef struct {
	typ   reflect.Type
	ix    *indexPlan
	scope string
	// path leads from the type's value to the struct that holds the index
	// (through embedded structs, whose indexes are promoted).
	path []int
}

// findIndex finds the index named name at the top level of T (a struct
// type, or a pointer to one), promoted indexes of embedded structs
// included.
func findIndex[T any](name string) (*indexRef, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v is not a struct type", ErrInvalidArgument, t)
	}
	rp := planFor(t)
	if rp.err != nil {
		return nil, rp.err
	}
	var find func(st *structPlan, path []int) *indexRef
	find = func(st *structPlan, path []int) *indexRef {
		for i := range st.indexes {
			if st.indexes[i].name == name {
				return &indexRef{typ: t, ix: &st.indexes[i], scope: rp.st.scope, path: path}
			}
		}
		for _, f := range st.fields {
			if !f.inline {
				continue
			}
			n := f.node
			if n.kind == nPtr {
				n = n.elem
			}
			if ref := find(n.st, append(slices.Clip(path), f.index)); ref != nil {
				return ref
			}
		}
		return nil
	}
	if ref := find(rp.st, nil); ref != nil {
		return ref, nil
	}
	return nil, &IndexError{Type: t.Name(), Index: name, Err: ErrUnknownIndex}
}

func (ref *indexRef) fail(err error) error {
	return &IndexError{Type: ref.typ.Name(), Index: ref.ix.name, Err: err}
}

// checkArity refuses a query with the wrong number of values.
func (ref *indexRef) checkArity(values []string) error {
	if want := ref.ix.def.Arity(); len(values) != want {
		return ref.fail(&blindindex.ArityError{Want: want, Got: len(values)})
	}
	return nil
}

// terms returns the terms of values under every live version, newest
// first.
func (ref *indexRef) terms(ctx context.Context, p *Protector, subject string, values []string) ([]blindindex.Term, error) {
	if err := ref.checkArity(values); err != nil {
		return nil, err
	}
	if ref.ix.subject != (subject != "") {
		return nil, ref.fail(ErrIndexScope)
	}
	var kr *blindindex.Keyring
	if ref.ix.subject {
		keys, err := p.ring.get(ctx, subject, false)
		if err != nil {
			return nil, fmt.Errorf("pii: index %q: %w", ref.ix.name, err)
		}
		if kr, err = subjectKeyring(keys, ref.ix, ref.scope); err != nil {
			return nil, err
		}
	} else {
		roots, err := p.indexRoots(ctx, false)
		if err != nil {
			return nil, err
		}
		if kr, err = roots.keyring(ref.ix, ref.scope); err != nil {
			return nil, err
		}
	}
	terms, err := kr.Terms(values...)
	if err != nil {
		return nil, ref.fail(err) // a *ValueError: which value, which step; never the value
	}
	return terms, nil
}

// IndexTerms returns the terms a lookup of values in the global index
// named index of T asks for: one per live index key version, newest
// first (a version not yet written by Seal included: see RotateIndexKey),
// in text form, for WHERE col = ANY($1). A compound index takes one
// value per source field, in the tag's order. The rows it finds are
// candidates: a term matches every value of its class, so open them and
// keep the true matches with Matches.
//
// Errors: an *IndexError wrapping ErrUnknownIndex (T has no such index),
// ErrIndexScope (a scope=subject index: use SubjectIndexTerms),
// blindindex.ErrArity (the wrong number of values) or
// blindindex.ErrInvalidValue (a value the transform refuses); a *TagError
// for an invalid T. No error holds a value.
func IndexTerms[T any](ctx context.Context, p *Protector, index string, values ...string) ([]string, error) {
	ref, err := findIndex[T](index)
	if err != nil {
		return nil, err
	}
	terms, err := ref.terms(ctx, p, "", values)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(terms))
	for i, t := range terms {
		out[i] = t.String()
	}
	return out, nil
}

// IndexTermsBytes is IndexTerms for an index field of []byte kind: the
// terms in binary form.
func IndexTermsBytes[T any](ctx context.Context, p *Protector, index string, values ...string) ([][]byte, error) {
	ref, err := findIndex[T](index)
	if err != nil {
		return nil, err
	}
	terms, err := ref.terms(ctx, p, "", values)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(terms))
	for i, t := range terms {
		out[i] = t.Bytes()
	}
	return out, nil
}

// SubjectIndexTerms is IndexTerms for a scope=subject index: the term of
// values among subject's own records (one: subject indexes have one key
// version). It fails with ErrForgotten once the subject was forgotten (the
// index key is gone with their keys) and with ErrKeyNotFound for a
// subject nothing was sealed for.
func SubjectIndexTerms[T any](ctx context.Context, p *Protector, subject, index string, values ...string) ([]string, error) {
	ref, err := findIndex[T](index)
	if err != nil {
		return nil, err
	}
	if subject == "" {
		return nil, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	terms, err := ref.terms(ctx, p, subject, values)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(terms))
	for i, t := range terms {
		out[i] = t.String()
	}
	return out, nil
}

// Matches opens candidates in place (as OpenEach) and returns those whose
// source values, normalised by the index's transforms, equal values
// normalised the same way: the true matches among the rows a lookup
// returned, false positives removed. A candidate whose subject was
// forgotten is dropped (even with WithErasedPlaceholder), and so is one
// whose value the transform refuses; any other failure to open a candidate
// fails the call. Errors about the query are those of IndexTerms.
func Matches[T any](ctx context.Context, p *Protector, candidates []T, index string, values ...string) ([]T, error) {
	ref, err := findIndex[T](index)
	if err != nil {
		return nil, err
	}
	if err := ref.checkArity(values); err != nil {
		return nil, err
	}
	want, err := ref.ix.def.Normalize(values...)
	if err != nil {
		return nil, ref.fail(err)
	}
	errs, err := p.openEach(ctx, candidates, indexMatch)
	if err != nil {
		return nil, err
	}
	var out []T
	got := make([]string, len(ref.ix.sources))
	for i := range candidates {
		if errs[i] != nil {
			if errors.Is(errs[i], ErrForgotten) || errors.Is(errs[i], ErrNoConsent) {
				continue // not a match for this caller: forgotten, or no consent to the purpose
			}
			return nil, errs[i]
		}
		v := reflect.ValueOf(&candidates[i]).Elem()
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				continue
			}
			v = v.Elem()
		}
		holder, ok := ref.holder(v)
		if !ok {
			continue
		}
		for k, src := range ref.ix.sources {
			fv := holder.Field(src.index)
			if src.isBytes {
				got[k] = string(fv.Bytes())
			} else {
				got[k] = fv.String()
			}
		}
		norm, err := ref.ix.def.Normalize(got...)
		clear(got)
		if err != nil || !slices.Equal(norm, want) {
			continue
		}
		out = append(out, candidates[i])
	}
	return out, nil
}

// holder returns the struct holding the index inside v, following the
// embedded structs; false behind a nil embedded pointer.
func (ref *indexRef) holder(v reflect.Value) (reflect.Value, bool) {
	for _, i := range ref.path {
		v = v.Field(i)
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
	}
	return v, true
}
