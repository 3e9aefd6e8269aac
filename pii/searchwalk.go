package pii

import (
	"context"
	"errors"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// Index fields in the walk. Seal collects, for each index field of each
// struct it walks, the plaintext of its sources (phase 1, when they are in
// hand and not yet encrypted), computes the term with the other jobs (phase
// 2) and writes it with them (phase 3): all-or-nothing like the rest.
// Reindex collects the index fields of sealed records and takes the
// plaintext from the Open jobs of their sources instead.

type indexMode uint8

const (
	indexOff     indexMode = iota // Open, OpenEach, ...: index fields are left alone
	indexSeal                     // Seal: terms from the sources' plaintext
	indexReindex                  // Reindex: terms from the sources' opened values
	indexMatch                    // Matches' OpenEach: forgotten subjects fail even with a placeholder
)

// indexWork is the walker's part about index fields.
type indexWork struct {
	mode indexMode
	jobs []indexJob
	// vals holds the source values of every job (indexSeal), or after
	// resolveSources (indexReindex); srcs the source fields (indexReindex).
	vals []string
	srcs []reflect.Value
	// rings remembers, across the calls that reuse this walker, the
	// keyrings of the last global indexes it computed, for the roots they
	// were prepared from: a lookup in indexRoots.rings is a hash of the
	// scope per index per call. A change of roots misses. It holds no
	// plaintext and nothing per subject.
	rings [4]ringMemo
}

type ringMemo struct {
	roots *indexRoots
	ix    *indexPlan
	scope string
	kr    *blindindex.Keyring
}

// keyring is roots.keyring, remembered in x.rings.
func (x *indexWork) keyring(roots *indexRoots, ix *indexPlan, scope string) (*blindindex.Keyring, error) {
	for i := range x.rings {
		if m := &x.rings[i]; m.roots == roots && m.ix == ix && m.scope == scope {
			return m.kr, nil
		}
	}
	kr, err := roots.keyring(ix, scope)
	if err != nil {
		return nil, err
	}
	copy(x.rings[1:], x.rings[:len(x.rings)-1])
	x.rings[0] = ringMemo{roots: roots, ix: ix, scope: scope, kr: kr}
	return kr, nil
}

// indexJob is one index field to fill.
type indexJob struct {
	dst     reflect.Value // the settable index field
	ix      *indexPlan
	scope   string
	subject string
	path    int32 // the enclosing struct's path node
	first   int32 // the job's sources are vals[first:first+len(ix.sources)]
	empty   bool  // every source is empty and empty values are not sealed: write the zero value
	clear   bool  // a source's subject was forgotten (Reindex): write the zero value

	out      string
	outBytes []byte
}

// collects reports whether the walk collects index fields.
func (x *indexWork) collects() bool { return x.mode == indexSeal || x.mode == indexReindex }

func (x *indexWork) reset() {
	x.mode = indexOff
	if len(x.jobs) > 0 {
		clear(x.jobs)
		x.jobs = x.jobs[:0]
	}
	if len(x.vals) > 0 {
		clear(x.vals) // plaintext
		x.vals = x.vals[:0]
	}
	if len(x.srcs) > 0 {
		clear(x.srcs)
		x.srcs = x.srcs[:0]
	}
}

// collectIndexes is phase 1 for the index fields of struct value v.
func (w *walker) collectIndexes(v reflect.Value, st *structPlan, scope, subject string, path int32) {
	x := &w.ix
	for i := range st.indexes {
		ix := &st.indexes[i]
		j := indexJob{dst: v.Field(ix.index), ix: ix, scope: scope, subject: subject, path: path}
		if x.mode == indexReindex {
			j.first = int32(len(x.srcs))
			for _, src := range ix.sources {
				x.srcs = append(x.srcs, v.Field(src.index))
			}
			x.jobs = append(x.jobs, j)
			continue
		}
		j.first = int32(len(x.vals))
		empty := true
		for _, src := range ix.sources {
			fv := v.Field(src.index)
			var s string
			if src.isBytes {
				s = string(fv.Bytes())
			} else {
				s = fv.String()
			}
			empty = empty && s == ""
			x.vals = append(x.vals, s)
		}
		j.empty = empty && w.skipEmpty
		x.jobs = append(x.jobs, j)
	}
}

// resolveSources fills vals for Reindex from the opened values of the
// source jobs: a source without a job is empty; a source whose subject was
// forgotten clears its index.
func (w *walker) resolveSources() {
	x := &w.ix
	byAddr := make(map[uintptr]int, len(w.jobs))
	for i := range w.jobs {
		if j := &w.jobs[i]; j.direct {
			byAddr[j.dst.UnsafeAddr()] = i
		}
	}
	x.vals = x.vals[:0]
	for k := range x.jobs {
		ij := &x.jobs[k]
		first := len(x.vals)
		empty := true
		for s := range ij.ix.sources {
			val := ""
			if i, ok := byAddr[x.srcs[int(ij.first)+s].UnsafeAddr()]; ok {
				j := &w.jobs[i]
				switch {
				case j.skip && j.isBytes: // migration mode: plaintext
					val = string(j.inBytes)
				case j.skip:
					val = j.in
				case j.keys == nil: // forgotten
					ij.clear = true
				case j.isBytes:
					val = string(j.outBytes)
				default:
					val = j.outStr
				}
			}
			empty = empty && val == ""
			x.vals = append(x.vals, val)
		}
		ij.first = int32(first)
		ij.empty = empty && w.skipEmpty
	}
}

// computeIndexes is phase 2 for the index fields: one Term each, with the
// version written now for a global index (the newest active one).
func (p *Protector) computeIndexes(ctx context.Context, w *walker, op string, create bool) error {
	x := &w.ix
	var roots *indexRoots
	var writing uint32
	var lastSubject string
	var lastKeys *subjectkey.Keys
	for k := range x.jobs {
		ij := &x.jobs[k]
		if ij.empty || ij.clear {
			continue
		}
		var kr *blindindex.Keyring
		var key *blindindex.Key
		var err error
		if ij.ix.subject {
			if ij.subject == "" {
				return &FieldError{Path: w.indexPath(ij), Op: op, Err: ErrNoSubject}
			}
			if lastKeys == nil || ij.subject != lastSubject {
				if lastKeys, err = p.ring.get(ctx, ij.subject, create); err != nil {
					if op == "reindex" && errors.Is(err, ErrForgotten) {
						ij.clear, lastKeys = true, nil
						continue
					}
					return &FieldError{Path: w.indexPath(ij), Op: op, Err: err}
				}
				lastSubject = ij.subject
			}
			if kr, err = subjectKeyring(lastKeys, ij.ix, ij.scope); err == nil {
				key = kr.Newest()
			}
		} else {
			if roots == nil {
				if roots, err = p.indexRoots(ctx, false); err != nil {
					return err
				}
				writing = roots.writing(p.ring.cache.now())
			}
			if kr, err = x.keyring(roots, ij.ix, ij.scope); err == nil {
				key, err = kr.Key(writing)
			}
		}
		if err != nil {
			return &FieldError{Path: w.indexPath(ij), Op: op, Err: err}
		}
		n := len(ij.ix.sources)
		t, err := key.Term(x.vals[ij.first : int(ij.first)+n]...)
		if err != nil {
			return &FieldError{Path: w.indexPath(ij), Op: op, Err: err}
		}
		if ij.ix.isBytes {
			ij.outBytes = t.Bytes()
		} else {
			ij.out = t.String()
		}
	}
	return nil
}

// assignIndexes is phase 3 for the index fields, before the copies are
// attached (a map value is stored by copy).
func (w *walker) assignIndexes() {
	for k := range w.ix.jobs {
		ij := &w.ix.jobs[k]
		if ij.ix.isBytes {
			if ij.outBytes == nil && ij.dst.Len() == 0 {
				continue // leave nil as nil, empty as empty
			}
			ij.dst.SetBytes(ij.outBytes)
		} else {
			ij.dst.SetString(ij.out)
		}
	}
}

// indexesChanged reports whether an index job's output differs from the
// field's current value.
func (w *walker) indexesChanged() bool {
	for k := range w.ix.jobs {
		ij := &w.ix.jobs[k]
		if ij.ix.isBytes {
			if string(ij.dst.Bytes()) != string(ij.outBytes) {
				return true
			}
		} else if ij.dst.String() != ij.out {
			return true
		}
	}
	return false
}

func (w *walker) indexPath(ij *indexJob) string {
	return w.pathString(ij.path) + "." + ij.ix.goName
}
