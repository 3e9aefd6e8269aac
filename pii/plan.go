package pii

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/internal/valuecodec"
	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// A plan says, for one struct type, where its protected values are and how
// to reach them. Plans are built once per type, validated, and cached; the
// hot path only follows them.

type nodeKind uint8

const (
	nString nodeKind = iota // a string-kind value: sealed as text
	nBytes                  // a []byte-kind value: sealed as binary
	nPtr
	nSlice
	nArray
	nMap
	nStruct
	nSealed // a pii.Sealed value (sealed_plan.go)
)

// node describes how to reach protected values inside a value of type typ.
type node struct {
	kind nodeKind
	typ  reflect.Type
	elem *node       // nPtr, nSlice, nArray, nMap
	st   *structPlan // nStruct
	work bool        // protected values can be reached through this node
	// codec encodes the values of an nSealed node.
	codec *valuecodec.Codec
	// sealed is a Sealed value of an nSealed node's type, whose at method
	// makes the sealedValue of a value of that type without a dynamic
	// type assertion (sealed_walk.go).
	sealed sealedValue
}

// fieldPlan is one field of a struct that leads to protected values.
type fieldPlan struct {
	index  int
	goName string
	node   *node
	// For `pii:"encrypt"` and `pii:"token"` fields: the stable name bound
	// into associated data (or the token tweak), and the mode values are
	// sealed with.
	name string
	mode envelope.Mode
	// For `pii:"token"` fields: the format, whether the token key is the
	// global one, and the FF1 tweak (derived from name).
	token  tokenize.Format
	global bool
	tweak  []byte
	// vault: the token's vault options (vault_tags.go); nil: FF1 only.
	vault *vaultTag
	// inline marks an embedded struct (or pointer to one): its fields are
	// promoted, so they belong to this struct's subject and scope.
	inline bool
	// Record and element binding (binding.go): bindindex, bind=, and for a
	// token field the index of its tokenmac companion field.
	bindIndex bool
	bind      bindMode
	hasMAC    bool
	macIndex  int
	// plain: an encrypt field of strings without bindindex, whose values
	// Seal checks by length, the sealed prefix and the record in reach
	// alone (sealChecked).
	plain bool
	// acl is the field's purpose= and mask= (purpose_plan.go).
	acl *fieldACL
}

type structPlan struct {
	typ   reflect.Type
	name  string // typ.Name(), kept for error paths
	scope string
	// subject is the index path to this level's subject field, through
	// inline embedded structs; nil if the level has none.
	subject []int
	// subjectViaPtr: the path goes through an embedded pointer.
	subjectViaPtr bool
	fields        []fieldPlan
	work          bool
	err           *TagError   // the first of errs
	errs          []*TagError // every error of this type, in field order

	// names maps each stable name at this level (including promoted
	// fields) to the Go field that uses it, for duplicate detection.
	names map[string]string
	// hidden are unexported fields that would be walked if exported; if
	// they can reach protected values, the type is refused.
	hidden []fieldPlan
	// scopeSet records an explicit scope= declaration.
	scopeSet bool
	// record is the index path to this level's record field, like subject
	// (binding.go); macs are its tokenmac fields, resolved after all fields.
	record       []int
	recordViaPtr bool
	macs         []macDecl
	// indexes are the blind-index fields of this level (searchtags.go).
	indexes []indexPlan
	// aclReach: a field with purpose= or mask= is reachable from this
	// type (purpose_plan.go).
	aclReach bool

	// dyn caches dynOf(typ) (iface.go), set on first use: the walker asks
	// it on every struct it walks.
	dyn atomic.Pointer[dynType]
}

var (
	plans     sync.Map // reflect.Type -> *structPlan (finalized)
	rootPlans sync.Map // reflect.Type -> *rootPlan
)

// rootPlan is a struct plan checked for use as the top-level value of Seal
// or Open: every encrypted field has a subject in reach and no reachable
// type has a bad tag.
type rootPlan struct {
	st  *structPlan
	err error
}

// planFor returns the checked plan for struct type t.
func planFor(t reflect.Type) *rootPlan {
	if rp, ok := rootPlans.Load(t); ok {
		return rp.(*rootPlan)
	}
	b := &builder{local: map[reflect.Type]*structPlan{}}
	st := b.plan(t)
	b.finalize()
	rp := &rootPlan{st: st, err: checkRoot(st)}
	if rp.err == nil {
		rp.err = checkBinding(st)
	}
	actual, _ := rootPlans.LoadOrStore(t, rp)
	return actual.(*rootPlan)
}

// builder builds the plans of one type and every type it reaches that is
// not cached yet. Plans are published only once complete, so concurrent
// callers never see a half-built plan.
type builder struct {
	local map[reflect.Type]*structPlan
	nodes []*node
}

func (b *builder) plan(t reflect.Type) *structPlan {
	if st, ok := plans.Load(t); ok {
		return st.(*structPlan)
	}
	if st, ok := b.local[t]; ok {
		return st // in progress (a recursive type) or built in this batch
	}
	st := &structPlan{typ: t, name: t.Name(), names: map[string]string{}}
	b.local[t] = st
	if isSealedType(t) {
		st.fail(sealedRootError(t))
		return st
	}
	for i := 0; i < t.NumField(); i++ {
		if err := b.addField(st, t.Field(i)); err != nil {
			st.fail(err)
		}
	}
	if st.scope == "" {
		st.scope = t.Name()
	}
	b.resolveMACs(st)
	b.resolveIndexes(st)
	return st
}

// fail records a tag error of st: st.err is the first, st.errs all of them
// (Check reports every one).
func (st *structPlan) fail(te *TagError) {
	if st.err == nil {
		st.err = te
	}
	st.errs = append(st.errs, te)
}

func (b *builder) tagError(st *structPlan, f reflect.StructField, format string, args ...any) *TagError {
	return &TagError{Type: st.typ, Field: f.Name, Reason: fmt.Sprintf(format, args...)}
}

func (b *builder) addField(st *structPlan, f reflect.StructField) *TagError {
	if reason := malformedTag(string(f.Tag)); reason != "" {
		return b.tagError(st, f, "%s", reason)
	}
	raw, tagged := f.Tag.Lookup(tagName)
	var tg tag
	if tagged {
		var err error
		if tg, err = parseTag(raw); err != nil {
			return b.tagError(st, f, "%v", err)
		}
	}
	if f.Name == "_" {
		if !tagged {
			return nil
		}
		if tg.verb != verbScope {
			return b.tagError(st, f, "a blank field may only declare scope=NAME")
		}
		if st.scopeSet {
			return b.tagError(st, f, "scope declared twice")
		}
		st.scope, st.scopeSet = tg.scope, true
		return nil
	}
	if tg.verb == verbScope {
		return b.tagError(st, f, "scope= goes on a blank field: _ struct{} `pii:\"scope=%s\"`", tg.scope)
	}
	if tg.verb == verbSkip {
		return nil
	}
	if tg.verb == verbNone && sealedShape(f.Type) {
		tg.verb, tagged = verbEncrypt, true // a Sealed field is always protected
	}
	if tagged && !f.IsExported() {
		return b.tagError(st, f, "unexported fields cannot be protected: fieldcrypt cannot set them")
	}
	if containerCycle(f.Type) {
		if tg.verb != verbNone {
			return b.tagError(st, f, "%v contains itself and cannot hold a ciphertext", f.Type)
		}
		return nil // holds no struct: nothing to walk
	}
	switch tg.verb {
	case verbSubject:
		if f.Type.Kind() != reflect.String {
			return b.tagError(st, f, "subject must be a string, not %v", f.Type)
		}
		if st.subject != nil {
			return b.tagError(st, f, "two subject fields at one level (%s and %s)", st.typ.FieldByIndex(st.subject).Name, f.Name)
		}
		st.subject = []int{f.Index[0]}
		return nil

	case verbRecord:
		return b.addRecord(st, f)

	case verbTokenMAC:
		return b.addTokenMAC(st, f, tg)

	case verbIndex:
		return b.addIndex(st, f, tg)

	case verbEncrypt, verbToken:
		n, reason := b.leafNode(f.Type, tg.verb == verbEncrypt)
		if n == nil {
			return b.tagError(st, f, "%s", reason)
		}
		name := f.Name
		if tg.name != "" {
			name = tg.name
		}
		if other, dup := st.names[name]; dup {
			return b.tagError(st, f, "name %q is already used by field %s at this level; give one of them name=", name, other)
		}
		st.names[name] = f.Name
		mode := envelope.Randomized
		if tg.deterministic {
			mode = envelope.Deterministic
		}
		fp := fieldPlan{index: f.Index[0], goName: f.Name, node: n, name: name, mode: mode}
		if tg.verb == verbToken {
			fp.token, fp.global = tg.format, tg.global
			fp.tweak = []byte("fieldcrypt/token/v1\x00" + name)
		}
		if err := b.vaultOptions(st, f, &fp, tg); err != nil { // vault_tags.go
			return err
		}
		if err := b.bindOptions(st, f, &fp, tg); err != nil {
			return err
		}
		if err := b.checkSealedField(st, f, &fp); err != nil {
			return err
		}
		if err := b.aclOptions(st, f, &fp, tg); err != nil {
			return err
		}
		fp.plain = fp.token == "" && !fp.bindIndex && leafKind(n) == nString
		st.fields = append(st.fields, fp)
		return nil
	}

	// An untagged field: walk into it if it can hold protected values.
	if f.Anonymous {
		if inner, ptr := embeddedStruct(f.Type); inner != nil {
			return b.addEmbedded(st, f, inner, ptr)
		}
	}
	n := b.nestedNode(f.Type)
	if n == nil {
		return nil
	}
	fp := fieldPlan{index: f.Index[0], goName: f.Name, node: n}
	if !f.IsExported() {
		st.hidden = append(st.hidden, fp)
		return nil
	}
	st.fields = append(st.fields, fp)
	return nil
}

// addEmbedded promotes an embedded struct's subject and names into st.
func (b *builder) addEmbedded(st *structPlan, f reflect.StructField, inner reflect.Type, ptr bool) *TagError {
	sub := b.plan(inner)
	if sub == st {
		return b.tagError(st, f, "a struct cannot embed itself")
	}
	if sub.subject != nil {
		if st.subject != nil {
			return b.tagError(st, f, "two subject fields at one level: %s and the promoted %s", st.typ.FieldByIndex(st.subject).Name, inner.FieldByIndex(sub.subject).Name)
		}
		st.subject = append([]int{f.Index[0]}, sub.subject...)
		st.subjectViaPtr = ptr || sub.subjectViaPtr
	}
	if err := b.promoteRecord(st, f, sub, inner, ptr); err != nil {
		return err
	}
	for name, goName := range sub.names {
		if other, dup := st.names[name]; dup {
			return b.tagError(st, f, "promoted field %s uses name %q, already used by %s; give one of them name=", goName, name, other)
		}
		st.names[name] = goName
	}
	var n *node
	if ptr {
		n = b.newNode(&node{kind: nPtr, typ: f.Type, elem: b.newNode(&node{kind: nStruct, typ: inner, st: sub})})
	} else {
		n = b.newNode(&node{kind: nStruct, typ: inner, st: sub})
	}
	fp := fieldPlan{index: f.Index[0], goName: f.Name, node: n, inline: true}
	if !f.IsExported() && ptr {
		// Fields reached through an unexported embedded pointer can be
		// set, but the pointer itself cannot be replaced, and Seal never
		// writes through shared pointers.
		st.hidden = append(st.hidden, fp)
		return nil
	}
	st.fields = append(st.fields, fp)
	return nil
}

// leafKind is the kind of the values at the end of leaf node n: nString
// or nBytes.
func leafKind(n *node) nodeKind {
	for n.elem != nil {
		n = n.elem
	}
	return n.kind
}

func embeddedStruct(t reflect.Type) (inner reflect.Type, ptr bool) {
	if t.Kind() == reflect.Struct {
		return t, false
	}
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		return t.Elem(), true
	}
	return nil, false
}

func (b *builder) newNode(n *node) *node {
	b.nodes = append(b.nodes, n)
	return n
}

// leafNode returns the node for a field tagged encrypt (bytes allowed) or
// token (strings only), or nil and why not.
func (b *builder) leafNode(t reflect.Type, bytesOK bool) (*node, string) {
	if isSealedType(t) {
		return b.sealedLeaf(t, !bytesOK)
	}
	switch t.Kind() {
	case reflect.String:
		return b.newNode(&node{kind: nString, typ: t, work: true}), ""
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if !bytesOK {
				return nil, "tokens are text: token applies to string fields, not []byte"
			}
			return b.newNode(&node{kind: nBytes, typ: t, work: true}), ""
		}
		fallthrough
	case reflect.Pointer, reflect.Map:
		elem, reason := b.leafNode(t.Elem(), bytesOK)
		if elem == nil {
			return nil, reason
		}
		kind := map[reflect.Kind]nodeKind{reflect.Slice: nSlice, reflect.Pointer: nPtr, reflect.Map: nMap}[t.Kind()]
		return b.newNode(&node{kind: kind, typ: t, elem: elem, work: true}), ""
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, fmt.Sprintf("%v has a fixed length and cannot hold a ciphertext: use []byte", t)
		}
		elem, reason := b.leafNode(t.Elem(), bytesOK)
		if elem == nil {
			return nil, reason
		}
		return b.newNode(&node{kind: nArray, typ: t, elem: elem, work: true}), ""
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return nil, "time.Time cannot hold a ciphertext: store the time as a string (for example RFC 3339) and encrypt that"
		}
		return nil, fmt.Sprintf("encrypt applies to string and []byte fields; %v is a struct, whose fields are walked without a tag", t)
	default:
		return nil, fmt.Sprintf("%v cannot hold a ciphertext: encrypt applies to string and []byte fields (and pointers, slices, arrays and maps of them); format the value as a string and encrypt that", t)
	}
}

// nestedNode returns the node for an untagged field of type t, or nil if t
// cannot contain structs. Whether it actually leads to protected values is
// known only after finalize.
func (b *builder) nestedNode(t reflect.Type) *node {
	switch t.Kind() {
	case reflect.Struct:
		return b.newNode(&node{kind: nStruct, typ: t, st: b.plan(t)})
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		elem := b.nestedNode(t.Elem())
		if elem == nil {
			return nil
		}
		kind := map[reflect.Kind]nodeKind{reflect.Pointer: nPtr, reflect.Slice: nSlice, reflect.Array: nArray, reflect.Map: nMap}[t.Kind()]
		return b.newNode(&node{kind: kind, typ: t, elem: elem})
	}
	return nil
}

// finalize computes which plans and nodes lead to protected values (a
// fixpoint, because types may be recursive), drops fields that lead
// nowhere, refuses hidden fields that would hide protected values, and
// publishes the plans.
func (b *builder) finalize() {
	for changed := true; changed; {
		changed = false
		for _, n := range b.nodes {
			if !n.work && n.reaches() {
				n.work, changed = true, true
			}
		}
		for _, st := range b.local {
			if !st.work && st.reaches() {
				st.work, changed = true, true
			}
		}
	}
	for _, st := range b.local {
		kept := st.fields[:0]
		for _, f := range st.fields {
			if f.node.work {
				kept = append(kept, f)
			}
		}
		st.fields = kept
		for _, h := range st.hidden {
			if h.node.work {
				st.fail(&TagError{Type: st.typ, Field: h.goName, Reason: "unexported field holds protected fields that fieldcrypt cannot reach: export it, or tag it pii:\"-\" to leave it alone knowingly"})
			}
		}
		st.hidden = nil
	}
	b.finalizeACL()
	b.registerScopes()
	for t, st := range b.local {
		plans.LoadOrStore(t, st)
	}
}

// reaches reports whether st must be walked: it leads to protected values,
// or it is broken. A broken type counts so that the error reaches the
// caller instead of the type being skipped with its values in the clear.
func (st *structPlan) reaches() bool {
	if st.err != nil {
		return true
	}
	for _, f := range st.fields {
		if f.node.work {
			return true
		}
	}
	for _, h := range st.hidden {
		if h.node.work {
			return true
		}
	}
	return false
}

func (n *node) reaches() bool {
	switch n.kind {
	case nString, nBytes, nSealed:
		return true
	case nStruct:
		return n.st.work
	default:
		return n.elem.work
	}
}

// checkRoot validates st for use at the top level: no reachable type has a
// bad tag, and every encrypted field has a subject in reach. It reports
// every problem, in a fixed order (depth first, fields in order): one
// *TagError, or several joined with errors.Join.
func checkRoot(st *structPlan) error {
	type visit struct {
		st         *structPlan
		hasSubject bool
	}
	seen := map[visit]bool{}
	reported := map[*structPlan]bool{}
	var errs []error
	var walkStruct func(st *structPlan, hasSubject bool)
	var walkNode func(n *node, hasSubject bool)
	walkStruct = func(st *structPlan, hasSubject bool) {
		v := visit{st, hasSubject}
		if seen[v] {
			return
		}
		seen[v] = true
		if st.err != nil {
			if !reported[st] {
				reported[st] = true
				for _, e := range st.errs {
					errs = append(errs, e)
				}
			}
			// Look further for other types' errors, but do not pile
			// "no subject" on a type whose subject may be what is broken.
			hasSubject = true
		}
		hasSubject = hasSubject || st.subject != nil
		for _, f := range st.fields {
			if f.name != "" && !f.global && !hasSubject {
				errs = append(errs, &TagError{Type: st.typ, Field: f.goName, Reason: "encrypted field has no subject: add a `pii:\"subject\"` string field to this struct or to one that encloses it"})
			}
			walkNode(f.node, hasSubject)
		}
		for _, ix := range st.indexes {
			if ix.subject && !hasSubject {
				errs = append(errs, &TagError{Type: st.typ, Field: ix.goName, Reason: "a scope=subject index has no subject: add a `pii:\"subject\"` string field to this struct or to one that encloses it"})
			}
		}
	}
	walkNode = func(n *node, hasSubject bool) {
		switch n.kind {
		case nStruct:
			walkStruct(n.st, hasSubject)
		case nPtr, nSlice, nArray, nMap:
			walkNode(n.elem, hasSubject)
		}
	}
	walkStruct(st, false)
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
