package pii

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// The tag of a blind-index field, and its plan.
//
//	EmailIdx string `pii:"index=Email,transform=trim+fold,bits=16"`
//	NameDOB  string `pii:"index=LastName+BirthDate,transform=nfkc+trim+fold|first4,name=name_dob"`
//
// index= names the source fields (Go names of sibling fields, joined by
// '+'); the options are transform= (one transform for every source, or
// one per source joined by '|'), bits=, slow or slow=PARAMS, scope=global
// or scope=subject, and name=. See doc.go.

// errIndexElsewhere: index= written as an option of another verb.
var errIndexElsewhere = errors.New("index= is a tag of its own, on the index field: EmailIdx string `pii:\"index=Email\"` beside Email string `pii:\"encrypt\"`")

// idxTag is the parsed tag of an index field.
type idxTag struct {
	sources    []string
	transforms []blindindex.Transform // one, or one per source
	bits       int
	slow       *blindindex.Argon2Params
	subject    bool   // scope=subject
	name       string // name=
}

// parseIndexSources parses the value of index=.
func parseIndexSources(s string) (*idxTag, error) {
	parts := strings.Split(s, "+")
	if len(parts) > blindindex.MaxInputs {
		return nil, fmt.Errorf("index= names at most %d fields", blindindex.MaxInputs)
	}
	for i, p := range parts {
		if !isGoIdentifier(p) {
			return nil, fmt.Errorf("index= must name protected fields of this struct by their Go names, joined by '+'")
		}
		for _, q := range parts[:i] {
			if p == q {
				return nil, fmt.Errorf("index= names %s twice", p)
			}
		}
	}
	return &idxTag{sources: parts}, nil
}

// option parses one option of an index tag (parseTag has refused
// duplicates already).
func (t *idxTag) option(opt, key, value string, hasValue bool) error {
	var err error
	switch {
	case key == "transform" && hasValue:
		specs := strings.Split(value, "|")
		t.transforms = make([]blindindex.Transform, len(specs))
		for i, spec := range specs {
			if t.transforms[i], err = blindindex.ParseTransform(spec); err != nil {
				return err
			}
		}
	case key == "bits" && hasValue:
		t.bits, err = blindindex.ParseBits(value)
	case opt == "slow":
		p := blindindex.DefaultSlow
		t.slow = &p
	case key == "slow" && hasValue:
		if value == "" {
			return fmt.Errorf("slow= needs parameters (as in slow=m19456+t2+p1); write slow alone for the defaults")
		}
		var p blindindex.Argon2Params
		p, err = blindindex.ParseSlow(value)
		t.slow = &p
	case key == "scope" && (value == "global" || value == "subject"):
		t.subject = value == "subject"
	case key == "scope":
		return fmt.Errorf("scope= of an index must be global or subject")
	case key == "name" && hasValue:
		if err := checkStableName("name", value); err != nil {
			return err
		}
		t.name = value
	case opt == "":
		return fmt.Errorf("empty option in pii tag")
	default:
		return fmt.Errorf("unknown option %q for index= (options: transform=, bits=, slow, scope=, name=)", opt)
	}
	return err
}

// finish checks the options against each other.
func (t *idxTag) finish() error {
	if n := len(t.transforms); n > 1 && n != len(t.sources) {
		return fmt.Errorf("transform= gives %d transforms for %d fields: give one for all, or one per field joined by '|'", n, len(t.sources))
	}
	return nil
}

// definition returns the blindindex definition of the tag.
func (t *idxTag) definition() blindindex.Definition {
	d := blindindex.Definition{Inputs: make([]blindindex.Transform, len(t.sources)), Bits: t.bits, Slow: t.slow}
	if d.Bits == 0 {
		d.Bits = blindindex.DefaultBits
	}
	for i := range d.Inputs {
		switch len(t.transforms) {
		case 0:
		case 1:
			d.Inputs[i] = t.transforms[0]
		default:
			d.Inputs[i] = t.transforms[i]
		}
	}
	return d
}

// indexPlan is one index field of a struct.
type indexPlan struct {
	index   int    // the index field's position in its struct
	goName  string // the index field's Go name
	name    string // the index name: name=, or goName
	isBytes bool   // the index field is []byte-kind (binary terms)
	subject bool   // scope=subject: keyed by the subject's own keys
	def     blindindex.Definition
	// field is the sources' stable names joined by '+' (blindindex.Name's
	// Field); sources are the source fields, in the tag's order.
	field   string
	sources []indexSource
	tag     *idxTag // until resolved
}

type indexSource struct {
	index   int // the source field's position in the struct
	isBytes bool
}

// indexNameKey is the key of an index name in structPlan.names, which
// finds duplicates at one level, promoted ones included.
func indexNameKey(name string) string { return "index:" + name }

// addIndex records an index field of st; its sources are resolved once
// every field of st is known (resolveIndexes).
func (b *builder) addIndex(st *structPlan, f reflect.StructField, tg tag) *TagError {
	isBytes := false
	switch {
	case f.Type.Kind() == reflect.String:
	case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8:
		isBytes = true
	default:
		return b.tagError(st, f, "an index field holds a term: it must be a string or []byte, not %v", f.Type)
	}
	name := f.Name
	if tg.index.name != "" {
		name = tg.index.name
	}
	if other, dup := st.names[indexNameKey(name)]; dup {
		return b.tagError(st, f, "index name %q is already used by field %s at this level; give one of them name=", name, other)
	}
	st.names[indexNameKey(name)] = f.Name
	st.indexes = append(st.indexes, indexPlan{index: f.Index[0], goName: f.Name, name: name, isBytes: isBytes,
		subject: tg.index.subject, def: tg.index.definition(), tag: tg.index})
	return nil
}

// resolveIndexes finds the source fields of st's indexes, which must be
// protected string or []byte fields of st itself.
func (b *builder) resolveIndexes(st *structPlan) {
	kept := st.indexes[:0]
	for _, ix := range st.indexes {
		if err := resolveIndex(st, &ix); err != nil {
			st.fail(err)
			continue
		}
		kept = append(kept, ix)
	}
	st.indexes = kept
}

func resolveIndex(st *structPlan, ix *indexPlan) *TagError {
	fail := func(format string, args ...any) *TagError {
		return &TagError{Type: st.typ, Field: ix.goName, Reason: fmt.Sprintf(format, args...)}
	}
	names := make([]string, len(ix.tag.sources))
	for i, src := range ix.tag.sources {
		var fp *fieldPlan
		for k := range st.fields {
			if f := &st.fields[k]; !f.inline && f.goName == src {
				fp = f
				break
			}
		}
		if fp == nil || fp.name == "" {
			if sf, ok := st.typ.FieldByName(src); !ok {
				return fail("index=%s: no field %s in this struct", src, src)
			} else if len(sf.Index) > 1 {
				return fail("index=%s: %s is promoted from an embedded struct; an index must sit beside its fields (put it in the embedded struct)", src, src)
			}
			return fail("index=%s: %s is not protected: an index is kept only of encrypt or token fields", src, src)
		}
		kind := fp.node.kind
		if kind != nString && kind != nBytes {
			return fail("index=%s: %s must hold a single string or []byte, not a pointer, slice, array or map", src, src)
		}
		tr := ix.def.Inputs[i]
		if kind == nBytes && !tr.IsIdentity() {
			return fail("index=%s: %s is []byte (binary): it takes no transform (transforms are for text)", src, src)
		}
		if fp.token != "" && fp.token != tokenize.Email && strings.Contains(tr.String(), "email-") {
			return fail("index=%s: %s holds %s tokens' values, not email addresses: email-local and email-domain do not apply", src, src, fp.token)
		}
		ix.sources = append(ix.sources, indexSource{index: fp.index, isBytes: kind == nBytes})
		names[i] = fp.name
	}
	ix.field = strings.Join(names, "+")
	ix.tag = nil
	return nil
}
