package pii

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
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
	isBytes bool
	field   *fieldPlan
	scope   string
	subject string
	rec     binding       // record and position (binding.go)
	mac     reflect.Value // the tokenmac companion field, if any
	version int           // Open only: the envelope version of the value
	// path locates the value for error messages: an index into
	// walker.paths. For a value held directly by its field (the common
	// case), path is the enclosing struct's node and direct is set, and the
	// field's name completes the path; no node is pushed for it.
	path   int32
	direct bool
	keys   *subjectkey.Keys

	// Open only: the parsed ciphertext (aliasing walker.ct or inBytes).
	mode envelope.Mode
	ct   []byte

	outStr   string
	outBytes []byte
	macOut   string // Seal only: the tokenmac value to write
	skip     bool   // leave the value as it is (migration mode plaintext)
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
	jobs   []job
	paths  []pathNode
	defers []deferred
	// onStack holds the pointers, slices and maps being walked, to detect
	// cycles; used only past a depth where legitimate values rarely go.
	depth   int
	onStack map[stackKey]struct{}
	err     error

	// skipEmpty leaves empty values alone: always when opening, and when
	// sealing unless the Protector encrypts empty values.
	skipEmpty bool
	// mapKey is the key of the map element being visited, for element
	// binding (binding.go).
	mapKey reflect.Value

	// Scratch buffers, reused between calls. Those that may hold plaintext
	// or a subject identifier are cleared before the walker is returned to
	// its pool.
	ad, pt, ct, out []byte
}

type stackKey struct {
	ptr unsafe.Pointer
	typ reflect.Type
	len int
}

const cycleCheckDepth = 32

func (w *walker) reset() {
	for i := range w.jobs {
		w.jobs[i] = job{}
	}
	w.jobs = w.jobs[:0]
	w.paths = w.paths[:0]
	for i := range w.defers {
		w.defers[i] = deferred{}
	}
	w.defers = w.defers[:0]
	w.depth = 0
	w.onStack = nil
	w.err = nil
	w.mapKey = reflect.Value{}
	// ad holds the subject identifier and pt plaintext: zero them. ct and
	// out only ever hold ciphertext.
	clear(w.ad[:cap(w.ad)])
	clear(w.pt[:cap(w.pt)])
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

// pathString renders the path of node i, such as "Customer.Phones[2].Number".
func (w *walker) pathString(i int32) string {
	var steps []pathNode
	for ; i >= 0; i = w.paths[i].parent {
		steps = append(steps, w.paths[i])
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
		switch {
		case f.node.kind == nString || f.node.kind == nBytes:
			before := len(w.jobs)
			w.walkLeaf(fv, f.node, f, scope, subject, rec, path, true)
			w.attachMAC(v, f, before)
		case f.name != "":
			w.walkLeaf(fv, f.node, f, scope, subject, rec, w.push(path, f.goName, -1), false)
		default:
			w.walkNested(fv, f.node, subject, rec, w.push(path, f.goName, -1))
		}
	}
}

func (w *walker) walkInline(v reflect.Value, n *node, scope, subject string, rec binding, path int32) {
	if n.kind == nPtr {
		cp, ok := w.copyPointer(v, path)
		if !ok {
			return
		}
		w.walkInline(cp, n.elem, scope, subject, rec, path)
		w.leave(v)
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
		w.walkContainer(v, n, path, func(elem reflect.Value, p int32) {
			w.walkNested(elem, n.elem, subject, rec, p)
		})
	}
}

// walkLeaf follows a field tagged encrypt down to its string and []byte
// values, and makes a job of each. direct: v is the field itself.
func (w *walker) walkLeaf(v reflect.Value, n *node, f *fieldPlan, scope, subject string, rec binding, path int32, direct bool) {
	switch n.kind {
	case nString:
		s := v.String()
		if s == "" && w.skipEmpty {
			return
		}
		w.jobs = append(w.jobs, job{dst: v, in: s, field: f, scope: scope, subject: subject, rec: rec, path: path, direct: direct})
	case nBytes:
		b := v.Bytes()
		if b == nil || (len(b) == 0 && w.skipEmpty) {
			return
		}
		w.jobs = append(w.jobs, job{dst: v, inBytes: b, isBytes: true, field: f, scope: scope, subject: subject, rec: rec, path: path, direct: direct})
	default:
		w.walkContainer(v, n, path, func(elem reflect.Value, p int32) {
			w.walkLeaf(elem, n.elem, f, scope, subject, w.elemBinding(rec, f, n, p), p, false)
		})
	}
}

// walkContainer calls visit for each element of the pointer, slice, array
// or map v, on copies where the element is not the caller's own memory.
func (w *walker) walkContainer(v reflect.Value, n *node, path int32, visit func(elem reflect.Value, path int32)) {
	switch n.kind {
	case nPtr:
		cp, ok := w.copyPointer(v, path)
		if !ok {
			return
		}
		visit(cp, path)
		w.leave(v)

	case nArray:
		// An array is part of the value that holds it, which is already
		// the caller's own memory or a copy.
		for i := 0; i < v.Len(); i++ {
			visit(v.Index(i), w.push(path, "", int32(i)))
		}

	case nSlice:
		if v.Len() == 0 || !w.enter(v, path) {
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		w.defers = append(w.defers, deferred{dst: v, src: cp})
		for i := 0; i < cp.Len(); i++ {
			visit(cp.Index(i), w.push(path, "", int32(i)))
		}
		w.leave(v)

	case nMap:
		if v.Len() == 0 || !w.enter(v, path) {
			return
		}
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
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
		w.leave(v)
	}
}

// copyPointer returns a settable copy of what the non-nil pointer v points
// to, to be attached to v in phase 3.
func (w *walker) copyPointer(v reflect.Value, path int32) (reflect.Value, bool) {
	if v.IsNil() || !w.enter(v, path) {
		return reflect.Value{}, false
	}
	cp := reflect.New(v.Type().Elem())
	cp.Elem().Set(v.Elem())
	w.defers = append(w.defers, deferred{dst: v, src: cp})
	return cp.Elem(), true
}

// enter records that the walk goes into pointer, slice or map v, and
// reports false (setting w.err) if v is already being walked: a cycle.
func (w *walker) enter(v reflect.Value, path int32) bool {
	w.depth++
	if w.depth < cycleCheckDepth {
		return true
	}
	if w.onStack == nil {
		w.onStack = make(map[stackKey]struct{})
	}
	k := stackKey{ptr: v.UnsafePointer(), typ: v.Type()}
	if v.Kind() == reflect.Slice {
		k.len = v.Len()
	}
	if _, seen := w.onStack[k]; seen {
		w.err = &FieldError{Path: w.pathString(path), Err: ErrCycle}
		return false
	}
	w.onStack[k] = struct{}{}
	return true
}

func (w *walker) leave(v reflect.Value) {
	if w.depth >= cycleCheckDepth && w.onStack != nil {
		k := stackKey{ptr: v.UnsafePointer(), typ: v.Type()}
		if v.Kind() == reflect.Slice {
			k.len = v.Len()
		}
		delete(w.onStack, k)
	}
	w.depth--
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
	for i := range w.jobs {
		j := &w.jobs[i]
		if j.skip {
			continue
		}
		if j.isBytes {
			j.dst.SetBytes(j.outBytes)
		} else {
			j.dst.SetString(j.outStr)
		}
		if j.macOut != "" {
			j.mac.SetString(j.macOut)
		}
	}
	for _, d := range w.defers {
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
	version := j.sealVersion()
	w.ad = w.appendAD(w.ad[:0], j, version)
	var pt []byte
	if j.isBytes {
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

// parseAll parses every job's sealed input, before any key is fetched: a
// malformed value is reported as such, and values that migration mode lets
// through as plaintext need no key. Decoded text ciphertexts are kept in
// w.ct, sized up front so that the slices into it stay valid.
func (w *walker) parseAll(migration bool) (failed int, err error) {
	need := 0
	for i := range w.jobs {
		if w.jobs[i].field.token == "" {
			need += 2 * len(w.jobs[i].in)
		}
	}
	if cap(w.ct) < need {
		w.ct = make([]byte, 0, need)
	}
	w.ct = w.ct[:0]
	for i := range w.jobs {
		j := &w.jobs[i]
		var err error
		if j.field.token != "" {
			if migration {
				if err := tokenInMigration(j); err != nil {
					return i, err
				}
			}
			continue
		}
		if j.isBytes {
			j.version, j.mode, j.ct, err = envelope.ParseBinary(j.inBytes)
		} else {
			start := len(w.ct)
			j.version, j.mode, j.ct, err = envelope.ParseText(j.in, w.ct)
			w.ct = w.ct[:start+2*len(j.in)] // reserve what ParseText may have used
		}
		switch {
		case err == nil:
		case errors.Is(err, envelope.ErrNotSealed) && migration:
			j.skip = true
		case errors.Is(err, envelope.ErrNotSealed):
			return i, ErrNotSealed
		default:
			return i, ErrMalformed
		}
	}
	return 0, nil
}

// tokenJob tokenizes (seal) or detokenizes one job's input with the
// tokenizer of its keys.
func tokenJob(j *job, seal bool) error {
	tk, err := j.keys.Tokenizer()
	if err != nil {
		return err
	}
	if seal {
		j.outStr, err = tk.Tokenize(j.field.token, j.field.tweak, j.in)
	} else {
		j.outStr, err = tk.Detokenize(j.field.token, j.field.tweak, j.in)
	}
	return err
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
		return w.openToken(j)
	}
	w.ad = w.appendAD(w.ad[:0], j, j.version)
	var pt []byte
	var err error
	if j.mode == envelope.Deterministic {
		pt, err = j.keys.DAEAD.DecryptDeterministically(j.ct, w.ad)
	} else {
		pt, err = j.keys.AEAD.Decrypt(j.ct, w.ad)
	}
	if err != nil {
		// Tink's error says only that decryption failed.
		return ErrAuthentication
	}
	if j.isBytes {
		j.outBytes = pt
	} else {
		j.outStr = string(pt)
		clear(pt)
	}
	return nil
}
