package pii

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/internal/valuecodec"
	"github.com/fieldcrypt/fieldcrypt/mask"
	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// Seal and Open run in three phases, which is what makes them
// all-or-nothing:
//
//  1. collect: walk the value along its plan and list every value to
//     transform (a job), without changing anything. Values reached through
//     pointers, slices and maps are copied first (copy-on-write): the copies
//     are attached to the caller's value only in phase 3, so shared memory
//     is never written and never sealed twice.
//  2. compute: fetch the keys and transform every job into its output.
//     Any failure returns here, before anything was changed.
//  3. assign: write the outputs and attach the copies. Nothing in this phase
//     can fail.

type job struct {
	dst     reflect.Value // settable string- or []byte-kind value
	in      string        // input, for string values
	inBytes []byte        // input, for []byte values
	field   *fieldPlan
	scope   string
	subject string
	keys    *subjectkey.Keys

	outStr   string
	outBytes []byte

	// Open only: the parsed ciphertext (aliasing walker.ct or inBytes).
	ct []byte

	// rec is 1 + the index in walker.recs of the job's record and
	// element position (binding.go); 0 if it is bound to neither.
	rec int32
	// path locates the value for error messages: an index into
	// walker.paths. For a value held directly by its field (the common
	// case), path is the enclosing struct's node and direct is set, and the
	// field's name completes the path; no node is pushed for it.
	path int32
	// mac is 1 + the index in walker.macs of the job's tokenmac companion
	// field; 0 if it has none.
	mac int32
	// typed is 1 + the index in walker.typed of the job's Sealed value
	// (sealed_walk.go); 0 for a string or []byte value.
	typed int32
	// vault is 1 + the index in walker.vt.items of the job's vaulted
	// token (vault.go); 0 if the job is not vaulted.
	vault int32

	version uint8         // Open only: the envelope version of the value
	mode    envelope.Mode // Open only: the envelope mode of the value
	isBytes bool
	direct  bool
	skip    bool  // leave the value as it is (migration mode plaintext; refused)
	acl     uint8 // Open only: aclOpen, aclMasked or aclRefused (purpose.go)
}

// A job holds as few pointers as it can: jobs are written on every call
// and cleared when the walker goes back to its pool, and while the
// garbage collector runs, every pointer slot written or cleared costs a
// write barrier. What only some jobs need is kept aside, once: their
// record binding in walker.recs, their tokenmac companion in walker.macs.

// macSlot is the tokenmac companion field of a token job (tokenmac.go).
type macSlot struct {
	dst reflect.Value // the settable companion field
	out string        // Seal only: the MAC to write into it
}

// pathNode is one step of the path to a field, for error messages only.
type pathNode struct {
	parent int32
	name   string // field name, or "" for an index
	index  int32  // slice or array index; -1 for a field, -2 for a map value
}

// deferred is an assignment made in phase 3, after the jobs' outputs are
// written: attach a copy (dst.Set(src)) or store a map value.
type deferred struct {
	dst, src reflect.Value
	mapKey   reflect.Value // valid: dst is a map, store src under mapKey
}

type walker struct {
	jobs  []job
	recs  []binding
	macs  []macSlot
	typed []typedSlot
	// scalars are the values Open decoded for w.typed (sealed_walk.go),
	// at the same index; only Open uses it.
	scalars []valuecodec.Scalar
	paths   []pathNode
	defers  []deferred
	// depth counts the pointers, slices and maps being walked, to refuse
	// values nested deeper than MaxDepth before the stack runs out.
	depth int
	// memo holds every pointer, slice and map walked, with its copy: each
	// is walked once per context and its copy attached to every holder
	// (see enter). Looked up linearly while short; memoIdx indexes it
	// once it grows.
	memo    []memoEntry
	memoIdx map[memoKey]int32
	// inspect is the read-only search of values behind interfaces.
	inspect inspector
	err     error

	// skipEmpty leaves empty values alone: always when opening, and when
	// sealing unless the Protector encrypts empty values.
	skipEmpty bool
	// mapKey is the key of the map element being visited, for element
	// binding (binding.go).
	mapKey reflect.Value
	// lim are the Protector's length limits (limits.go).
	lim limits
	// ix are the index fields to fill (searchwalk.go).
	ix indexWork
	// pur is the state of the purpose hook (purpose.go).
	pur purposeWork
	// vt are the vaulted tokens to resolve (vault.go).
	vt vaultWork

	// Scratch buffers, reused between calls. Those that may hold plaintext
	// or a subject identifier are cleared before the walker is returned to
	// its pool.
	ad, pt, ct, out []byte

	// lastType and lastPlan are the root type of this walker's last
	// single-struct call and its plan (plans never change once built):
	// a repeated call skips the global plan map.
	lastType reflect.Type
	lastPlan *rootPlan
}

// MaxDepth is how deeply Seal, Open and LogValue follow pointers, slices,
// maps and interfaces nested in each other: a value nested deeper (a linked
// list of more than MaxDepth elements, for example) fails with ErrTooDeep.
// It is the limit encoding/json puts on the nesting of what it decodes.
const MaxDepth = 10_000

// memoKey identifies one walk of a pointer, slice or map: what it points to
// (address, type and, for slices, length) and the context of the walk,
// which decides what its jobs are sealed with. Two holders of one pointer
// in one context share one sealed copy; in different contexts (two
// subjects holding one *Address, one *string in two encrypted fields) each
// gets its own copy, sealed for it.
type memoKey struct {
	ptr unsafe.Pointer
	typ reflect.Type
	len int // slices: a shorter slice of the same array is another value
	walkCtx
}

// walkCtx is the context of a walk below a struct field. Anything that goes
// into a job's associated data or tweak and comes from the enclosing values
// rather than from the value's type must be part of it.
type walkCtx struct {
	f              *fieldPlan // the encrypt or token field (walkLeaf); nil below an untagged field
	inline         bool       // walkInline: the embedding struct's scope and subject
	scope, subject string
	// rec is the record and element position in effect: it enters the
	// associated data, so one pointer reached from two records (or two
	// positions) must be sealed once for each.
	rec binding
}

type memoEntry struct {
	key  memoKey
	cp   reflect.Value // the copy attached to every holder
	done bool          // false while it is being walked: meeting it again is a cycle
}

// memoLinear is how many entries memo holds before it is indexed by a map.
const memoLinear = 16

func (w *walker) reset() {
	// Jobs hold plaintext and subject identifiers, bindings records:
	// clear them. Only what was used is cleared, and fields that are already
	// empty are not written again (see job).
	clear(w.jobs)
	w.jobs = w.jobs[:0]
	if len(w.recs) > 0 {
		clear(w.recs)
		w.recs = w.recs[:0]
	}
	if len(w.macs) > 0 {
		clear(w.macs)
		w.macs = w.macs[:0]
	}
	if len(w.typed) > 0 {
		clear(w.typed)
		w.typed = w.typed[:0]
	}
	if len(w.scalars) > 0 {
		clear(w.scalars) // plaintext
		w.scalars = w.scalars[:0]
	}
	w.paths = w.paths[:0]
	if len(w.defers) > 0 {
		clear(w.defers)
		w.defers = w.defers[:0]
	}
	if len(w.memo) > 0 || w.memoIdx != nil {
		w.resetMemo()
	}
	w.depth = 0
	w.ix.reset()
	w.pur.reset()
	w.vt.reset()
	w.inspect.reset()
	if w.err != nil {
		w.err = nil
	}
	if w.mapKey.IsValid() {
		w.mapKey = reflect.Value{}
	}
	// ad holds the subject identifier and pt plaintext: zero them. ct and
	// out only ever hold ciphertext.
	clear(w.ad[:cap(w.ad)])
	clear(w.pt[:cap(w.pt)])
}

// newJob appends a zero job to w.jobs and returns it, to be filled field
// by field: a job is large, and appending a filled one copies all of it
// (with a write barrier per pointer slot while the garbage collector runs).
func (w *walker) newJob() *job {
	w.jobs = append(w.jobs, job{})
	return &w.jobs[len(w.jobs)-1]
}

// pushRec returns the job.rec of binding rec: 0 for no binding, otherwise
// 1 + its index in w.recs, where it is added.
func (w *walker) pushRec(rec binding) int32 {
	// Field by field: comparing the struct calls the runtime.
	if !rec.hasRecord && len(rec.record) == 0 && len(rec.position) == 0 {
		return 0
	}
	w.recs = append(w.recs, rec)
	return int32(len(w.recs))
}

// recOf returns the binding of job j.
func (w *walker) recOf(j *job) binding {
	if j.rec == 0 {
		return binding{}
	}
	return w.recs[j.rec-1]
}

func (w *walker) push(parent int32, name string, index int32) int32 {
	w.paths = append(w.paths, pathNode{parent: parent, name: name, index: index})
	return int32(len(w.paths) - 1)
}

// jobPath renders the path of a job's value.
func (w *walker) jobPath(j *job) string {
	if j.direct {
		return w.pathString(j.path) + "." + j.field.goName
	}
	return w.pathString(j.path)
}

// maxPathSteps bounds how many steps pathString shows: the first and last
// maxPathSteps/2, around "…", so that errors about deep values stay short.
const maxPathSteps = 64

// pathString renders the path of node i, such as "Customer.Phones[2].Number".
func (w *walker) pathString(i int32) string {
	var steps []pathNode
	for ; i >= 0; i = w.paths[i].parent {
		steps = append(steps, w.paths[i])
	}
	if len(steps) > maxPathSteps {
		// steps is innermost first: keep both ends.
		inner, outer := steps[:maxPathSteps/2], steps[len(steps)-maxPathSteps/2:]
		steps = append(append(inner[:len(inner):len(inner)], pathNode{name: "…", index: -1}), outer...)
	}
	var b strings.Builder
	for j := len(steps) - 1; j >= 0; j-- {
		s := steps[j]
		switch {
		case s.index == -2:
			b.WriteString("[…]")
		case s.index >= 0:
			b.WriteString("[" + strconv.Itoa(int(s.index)) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		}
	}
	return b.String()
}

// walkStruct collects the jobs of struct value v. scope and subject are
// those of the enclosing level; a struct with its own subject field uses
// that instead, unless it is inline (embedded), whose subject was promoted
// and read by the enclosing level.
func (w *walker) walkStruct(v reflect.Value, st *structPlan, scope, subject string, rec binding, path int32, inline bool) {
	if st.subject != nil && !inline {
		subject = readSubject(v, st)
	}
	if st.record != nil && !inline {
		rec = binding{record: readRecord(v, st), hasRecord: true}
	}
	if st.aclReach {
		w.pur.active = true // purpose.go
	}
	ri := int32(-1) // this level's job.rec, set at its first value
	for i := range st.fields {
		if w.err != nil {
			return
		}
		f := &st.fields[i]
		fv := v.Field(f.index)
		if f.inline {
			// Promoted fields: same level, same scope and subject.
			w.walkInline(fv, f.node, scope, subject, rec, path)
			continue
		}
		if f.name == "" {
			w.walkNested(fv, f.node, subject, rec, w.push(path, f.goName, -1))
			continue
		}
		if ri < 0 {
			ri = w.pushRec(rec)
		}
		switch f.node.kind {
		case nString:
			// The common case, without a call: a string held by its field.
			if s := fv.String(); s != "" || !w.skipEmpty {
				// newJob: fill a zero job in place rather than copy a
				// whole one (see newJob).
				j := w.newJob()
				j.dst, j.in, j.field, j.scope, j.subject = fv, s, f, scope, subject
				j.rec, j.path, j.direct = ri, path, true
				if f.hasMAC {
					w.attachMAC(v, f)
				}
			}
		case nBytes, nSealed:
			w.walkLeaf(fv, f.node, f, scope, subject, ri, path, true)
		default:
			w.walkLeaf(fv, f.node, f, scope, subject, ri, w.push(path, f.goName, -1), false)
		}
	}
	if w.err != nil {
		return
	}
	if len(st.indexes) > 0 && w.ix.collects() {
		w.collectIndexes(v, st, scope, subject, path)
	}
	if d := st.dyn.Load(); d == nil || len(d.fields) > 0 {
		w.checkInterfaces(v, st, path)
	}
}

func (w *walker) walkInline(v reflect.Value, n *node, scope, subject string, rec binding, path int32) {
	if n.kind == nPtr {
		cp, k, ok := w.copyPointer(v, walkCtx{inline: true, scope: scope, subject: subject}, path)
		if !ok {
			return
		}
		w.walkInline(cp, n.elem, scope, subject, rec, path)
		w.leave(k)
		return
	}
	w.walkStruct(v, n.st, scope, subject, rec, path, true)
}

// walkNested follows an untagged field down to the structs it holds.
func (w *walker) walkNested(v reflect.Value, n *node, subject string, rec binding, path int32) {
	switch n.kind {
	case nStruct:
		w.walkStruct(v, n.st, n.st.scope, subject, rec, path, false)
	default:
		w.walkContainer(v, n, walkCtx{subject: subject, rec: rec}, path, func(elem reflect.Value, p int32) {
			w.walkNested(elem, n.elem, subject, rec, p)
		})
	}
}

// walkLeaf follows a field tagged encrypt down to its string and []byte
// values, and makes a job of each, bound to ri (a job.rec). direct: v is
// the field itself.
func (w *walker) walkLeaf(v reflect.Value, n *node, f *fieldPlan, scope, subject string, ri int32, path int32, direct bool) {
	switch n.kind {
	case nString:
		s := v.String()
		if s == "" && w.skipEmpty {
			return
		}
		w.jobs = append(w.jobs, job{dst: v, in: s, field: f, scope: scope, subject: subject, rec: ri, path: path, direct: direct})
	case nBytes:
		b := v.Bytes()
		if b == nil || (len(b) == 0 && w.skipEmpty) {
			return
		}
		w.jobs = append(w.jobs, job{dst: v, inBytes: b, isBytes: true, field: f, scope: scope, subject: subject, rec: ri, path: path, direct: direct})
	case nSealed:
		w.walkSealed(v, n, f, scope, subject, ri, path, direct)
	default:
		c := walkCtx{f: f, scope: scope, subject: subject}
		if ri != 0 {
			c.rec = w.recs[ri-1]
		}
		w.walkContainer(v, n, c, path, func(elem reflect.Value, p int32) {
			w.walkLeaf(elem, n.elem, f, scope, subject, w.elemRec(ri, f, n, p), p, false)
		})
	}
}

// walkContainer calls visit for each element of the pointer, slice, array
// or map v, on copies where the element is not the caller's own memory.
// c is the context of the walk, for enter.
func (w *walker) walkContainer(v reflect.Value, n *node, c walkCtx, path int32, visit func(elem reflect.Value, path int32)) {
	switch n.kind {
	case nPtr:
		cp, k, ok := w.copyPointer(v, c, path)
		if !ok {
			return
		}
		visit(cp, path)
		w.leave(k)

	case nArray:
		// An array is part of the value that holds it, which is already
		// the caller's own memory or a copy.
		for i := 0; i < v.Len(); i++ {
			visit(v.Index(i), w.push(path, "", int32(i)))
		}

	case nSlice:
		if v.Len() == 0 {
			return
		}
		k := memoKey{ptr: v.UnsafePointer(), typ: v.Type(), len: v.Len(), walkCtx: c}
		if !w.enter(v, k, path) {
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		w.remember(cp)
		w.defers = append(w.defers, deferred{dst: v, src: cp})
		for i := 0; i < cp.Len(); i++ {
			visit(cp.Index(i), w.push(path, "", int32(i)))
		}
		w.leave(k)

	case nMap:
		if v.Len() == 0 {
			return
		}
		k := memoKey{ptr: v.UnsafePointer(), typ: v.Type(), walkCtx: c}
		if !w.enter(v, k, path) {
			return
		}
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
		w.remember(cp)
		elemType := v.Type().Elem()
		iter := v.MapRange()
		for iter.Next() {
			// Map values cannot be changed in place: copy each into a
			// settable value and store it in the new map in phase 3,
			// after its jobs are written.
			val := reflect.New(elemType).Elem()
			val.Set(iter.Value())
			w.mapKey = iter.Key()
			visit(val, w.push(path, "", -2))
			w.defers = append(w.defers, deferred{dst: cp, mapKey: iter.Key(), src: val})
		}
		w.defers = append(w.defers, deferred{dst: v, src: cp})
		w.leave(k)
	}
}

// copyPointer returns a settable copy of what the non-nil pointer v
// (walked in context c) points to, to be attached to v in phase 3, and the
// key to leave it with. ok is false if there is nothing to walk: v is nil,
// or was walked before (see enter).
func (w *walker) copyPointer(v reflect.Value, c walkCtx, path int32) (cp reflect.Value, k memoKey, ok bool) {
	if v.IsNil() {
		return reflect.Value{}, k, false
	}
	k = memoKey{ptr: v.UnsafePointer(), typ: v.Type(), walkCtx: c}
	if !w.enter(v, k, path) {
		return reflect.Value{}, k, false
	}
	p := reflect.New(v.Type().Elem())
	p.Elem().Set(v.Elem())
	w.remember(p)
	w.defers = append(w.defers, deferred{dst: v, src: p})
	return p.Elem(), k, true
}

// enter decides whether the walk goes into pointer, slice or map v, whose
// key is k. It reports false, and the caller skips v, if:
//   - v was walked before in the same context: its copy, already sealed
//     or opened, is attached to this holder too (so each shared value is
//     walked once, and what the caller shared stays shared);
//   - v is being walked: a cycle (w.err is ErrCycle);
//   - the walk is MaxDepth levels deep (w.err is ErrTooDeep).
//
// Otherwise the caller makes v's copy, hands it to remember, walks it and
// calls leave(k).
func (w *walker) enter(v reflect.Value, k memoKey, path int32) bool {
	if i := w.lookup(k); i >= 0 {
		e := &w.memo[i]
		if !e.done {
			w.err = &FieldError{Path: w.pathString(path), Err: ErrCycle}
			return false
		}
		w.defers = append(w.defers, deferred{dst: v, src: e.cp})
		return false
	}
	if w.depth >= MaxDepth {
		w.err = &FieldError{Path: w.pathString(path), Err: ErrTooDeep}
		return false
	}
	w.depth++
	w.memo = append(w.memo, memoEntry{key: k})
	if w.memoIdx != nil {
		w.memoIdx[k] = int32(len(w.memo) - 1)
	} else if len(w.memo) > memoLinear {
		w.memoIdx = make(map[memoKey]int32, 2*len(w.memo))
		for i := range w.memo {
			w.memoIdx[w.memo[i].key] = int32(i)
		}
	}
	return true
}

// remember records the copy of the value enter admitted last.
func (w *walker) remember(cp reflect.Value) {
	w.memo[len(w.memo)-1].cp = cp
}

func (w *walker) lookup(k memoKey) int {
	if w.memoIdx != nil {
		if i, ok := w.memoIdx[k]; ok {
			return int(i)
		}
		return -1
	}
	for i := range w.memo {
		if w.memo[i].key == k {
			return i
		}
	}
	return -1
}

// leave marks the value of key k as walked.
func (w *walker) leave(k memoKey) {
	if i := w.lookup(k); i >= 0 {
		w.memo[i].done = true
	}
	w.depth--
}

func (w *walker) resetMemo() {
	for i := range w.memo {
		w.memo[i] = memoEntry{}
	}
	w.memo = w.memo[:0]
	w.memoIdx = nil
	w.depth = 0
}

// readSubject reads the subject field of v; "" if it sits behind a nil
// embedded pointer.
func readSubject(v reflect.Value, st *structPlan) string {
	if !st.subjectViaPtr {
		return v.FieldByIndex(st.subject).String()
	}
	f, err := v.FieldByIndexErr(st.subject)
	if err != nil {
		return ""
	}
	return f.String()
}

// assign is phase 3: write every output, then attach the copies.
func (w *walker) assign() {
	w.assignIndexes()
	w.assignRange(w.jobs, w.defers)
}

// assignRange is phase 3 for some of the jobs and their deferred
// assignments.
func (w *walker) assignRange(jobs []job, defers []deferred) {
	for i := range jobs {
		j := &jobs[i]
		if j.skip {
			continue
		}
		if j.typed != 0 {
			w.assignTyped(j)
			continue
		}
		if j.isBytes {
			j.dst.SetBytes(j.outBytes)
		} else {
			j.dst.SetString(j.outStr)
		}
		if j.mac != 0 {
			if m := &w.macs[j.mac-1]; m.out != "" {
				m.dst.SetString(m.out)
			}
		}
	}
	for _, d := range defers {
		if d.mapKey.IsValid() {
			d.dst.SetMapIndex(d.mapKey, d.src)
		} else {
			d.dst.Set(d.src)
		}
	}
}

// sealJob encrypts or tokenizes one job's input.
func (w *walker) sealJob(j *job) error {
	if j.field.token != "" {
		return w.sealToken(j)
	}
	version := w.sealVersion(j)
	w.ad = w.appendAD(w.ad[:0], j, version)
	var pt []byte
	if j.typed != 0 && j.inBytes == nil {
		var err error
		if pt, err = w.encodeTyped(j); err != nil {
			return err
		}
	} else if j.isBytes || j.typed != 0 {
		pt = j.inBytes
	} else {
		w.pt = append(w.pt[:0], j.in...)
		pt = w.pt
	}
	var ct []byte
	var err error
	if j.field.mode == envelope.Deterministic {
		ct, err = j.keys.DAEAD.EncryptDeterministically(pt, w.ad)
	} else {
		ct, err = j.keys.AEAD.Encrypt(pt, w.ad)
	}
	clear(w.pt)
	if j.typed != 0 {
		clear(j.inBytes) // a re-sealed plaintext (Backfill)
	}
	if err != nil {
		return err
	}
	if j.isBytes {
		j.outBytes = envelope.AppendBinary(make([]byte, 0, 3+len(ct)), version, j.field.mode, ct)
	} else {
		w.out = envelope.AppendText(w.out[:0], version, j.field.mode, ct)
		j.outStr = string(w.out)
	}
	return nil
}

// parseAll checks the length of every job's sealed input and parses it,
// before any key is fetched: a malformed value is reported as such, and values that migration mode lets
// through as plaintext need no key. Decoded text ciphertexts are kept in
// w.ct, sized up front so that the slices into it stay valid.
func (w *walker) parseAll(migration bool) (failed int, err error) {
	// First every length, before anything is decoded or allocated for
	// decoding; and the room the decoded text ciphertexts need.
	need := 0
	for i := range w.jobs {
		j := &w.jobs[i]
		if !w.openChecked(j) {
			if err := w.checkOpen(j); err != nil {
				return i, err
			}
		}
		if j.field.token == "" {
			need += 2 * len(j.in)
		}
	}
	w.makeCT(need)
	for i := range w.jobs {
		if err := w.parseJob(&w.jobs[i], migration); err != nil {
			return i, err
		}
	}
	return 0, nil
}

// sizeCT makes room in w.ct for every job's decoded text ciphertext, so
// that the slices parseJob makes into it stay valid. Values longer than the
// limit (which checkOpen refuses before they are parsed) get no room.
func (w *walker) sizeCT() {
	need := 0
	for i := range w.jobs {
		if j := &w.jobs[i]; j.field.token == "" && len(j.in) <= w.lim.text {
			need += 2 * len(j.in)
		}
	}
	w.makeCT(need)
}

func (w *walker) makeCT(need int) {
	if cap(w.ct) < need {
		w.ct = make([]byte, 0, need)
	}
	w.ct = w.ct[:0]
}

// parseJob parses one job's sealed input, after sizeCT.
func (w *walker) parseJob(j *job, migration bool) error {
	var err error
	if j.acl == aclRefused {
		return nil // left sealed, or whatever it holds (purpose.go)
	}
	if j.field.token != "" {
		if migration {
			return tokenInMigration(j)
		}
		return nil
	}
	var version int
	if j.isBytes {
		version, j.mode, j.ct, err = envelope.ParseBinary(j.inBytes)
	} else {
		start := len(w.ct)
		version, j.mode, j.ct, err = envelope.ParseText(j.in, w.ct)
		w.ct = w.ct[:start+2*len(j.in)] // reserve what ParseText may have used
	}
	j.version = uint8(version)
	switch {
	case err == nil:
	case errors.Is(err, envelope.ErrNotSealed) && migration:
		j.skip = true
	case errors.Is(err, envelope.ErrNotSealed):
		return ErrNotSealed
	default:
		return ErrMalformed
	}
	return nil
}

// tokenInMigration decides, in migration mode, whether a token field's
// value is a plaintext to leave alone. Tokens keep the format of values, so
// only pan can tell: real card numbers pass the Luhn check, pan tokens never
// do. For the other formats, guessing would turn plaintext into garbage, so
// it is an error.
func tokenInMigration(j *job) error {
	if j.field.token == tokenize.PAN {
		digits := make([]byte, 0, len(j.in))
		for i := 0; i < len(j.in); i++ {
			if c := j.in[i]; c >= '0' && c <= '9' {
				digits = append(digits, c)
			}
		}
		if tokenize.LuhnValid(string(digits)) {
			j.skip = true
		}
		return nil
	}
	return ErrAmbiguousToken
}

// openJob decrypts or detokenizes one job's input.
func (w *walker) openJob(j *job) error {
	if j.field.token != "" {
		err := w.openToken(j)
		if err == nil && j.acl == aclMasked {
			j.outStr, _ = mask.Apply(j.field.acl.mask, j.outStr) // purpose.go
		}
		return err
	}
	w.ad = w.appendAD(w.ad[:0], j, int(j.version))
	ct := j.ct
	var pt []byte
	var err error
	if j.mode == envelope.Deterministic {
		pt, err = j.keys.DAEAD.DecryptDeterministically(ct, w.ad)
	} else {
		pt, err = j.keys.AEAD.Decrypt(ct, w.ad)
	}
	if err != nil {
		// Tink's error says only that decryption failed.
		return ErrAuthentication
	}
	if j.typed != 0 {
		return w.openTyped(j, pt)
	}
	switch {
	case j.isBytes:
		j.outBytes = pt
	case j.acl == aclMasked: // purpose.go
		j.outStr, _ = mask.Apply(j.field.acl.mask, string(pt))
		clear(pt)
	default:
		j.outStr = string(pt)
		clear(pt)
	}
	return nil
}
