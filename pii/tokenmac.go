package pii

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
	"reflect"
)

// Token integrity.
//
// A token is FF1 output: any string of the format detokenizes to some
// plausible value, so a token on its own gives confidentiality only. A
// companion string field tagged `pii:"tokenmac=Card"` gives the token field
// Card integrity and binds it to its place: Seal writes into it a MAC of the
// token, and Open checks that MAC before detokenizing, failing with
// ErrAuthentication if it is missing or wrong.
//
// The MAC is
//
//	"m1." || BASE64URL(PRF(k, "fieldcrypt/tokenmac/v1\x00" || LEN(subject) || subject
//	    || LEN(scope) || scope || LEN(record) || record || LEN(name) || name || LEN(token) || token)[:16])
//
// with LEN a 4-byte big-endian length, k the HMAC-SHA256 PRF key of the
// subject's bundle (of the global bundle for scope=global; the subject is
// in the input all the same, so a global token copied from another person's
// record fails), and record the record field in reach ("" without one). The
// label keeps these inputs apart from the PRF's other uses (subject
// addresses "fieldcrypt/subject/v1\x00…", the token key
// "fieldcrypt/token-key/v1").
//
// A token field with a tokenmac companion also uses the version 2 FF1 tweak,
// which adds the struct's scope:
//
//	"fieldcrypt/token/v2\x00" || LEN(scope) || scope || LEN(name) || name
//
// instead of version 1's "fieldcrypt/token/v1\x00" || name. Tokens carry no
// version marker, so the tweak version follows from the tag alone: adding
// tokenmac to a field that holds version 1 tokens makes them fail to open
// (their MAC is missing), never detokenize with the wrong tweak. To add
// integrity to existing tokens, open them with the old type and seal them
// with the new one.

const (
	macPrefix  = "m1."
	macBytes   = 16
	macLabel   = "fieldcrypt/tokenmac/v1\x00"
	tweakLabel = "fieldcrypt/token/v2\x00"
)

var macEncoding = base64.RawURLEncoding.Strict()

// macDecl is a `pii:"tokenmac=Field"` field, resolved after all the fields
// of its struct are known.
type macDecl struct {
	goName string
	index  int
	target string
}

// addTokenMAC records a tokenmac field of st.
func (b *builder) addTokenMAC(st *structPlan, f reflect.StructField, tg tag) *TagError {
	if f.Type.Kind() != reflect.String {
		return b.tagError(st, f, "tokenmac must be a string field, not %v", f.Type)
	}
	st.macs = append(st.macs, macDecl{goName: f.Name, index: f.Index[0], target: tg.macFor})
	return nil
}

// resolveMACs attaches each tokenmac field of st to its token field.
func (b *builder) resolveMACs(st *structPlan) {
	for _, m := range st.macs {
		if err := resolveMAC(st, m); err != nil {
			st.fail(err)
		}
	}
	st.macs = nil
}

func resolveMAC(st *structPlan, m macDecl) *TagError {
	fail := func(format string, args ...any) *TagError {
		return &TagError{Type: st.typ, Field: m.goName, Reason: fmt.Sprintf(format, args...)}
	}
	for i := range st.fields {
		f := &st.fields[i]
		if f.inline || f.goName != m.target {
			continue
		}
		switch {
		case f.token == "":
			return fail("tokenmac=%s: %s is not a token field", m.target, m.target)
		case f.node.kind != nString:
			return fail("tokenmac=%s: %s must hold a single string, not a pointer, slice, array or map", m.target, m.target)
		case f.hasMAC:
			return fail("tokenmac=%s: %s already has a tokenmac field", m.target, m.target)
		}
		f.hasMAC, f.macIndex = true, m.index
		return nil
	}
	return fail("tokenmac=%s: no token field %s in this struct (tokenmac must sit beside its token field)", m.target, m.target)
}

// attachMAC gives the job just collected for field f (which has a
// tokenmac) of struct v its tokenmac companion.
func (w *walker) attachMAC(v reflect.Value, f *fieldPlan) {
	w.macs = append(w.macs, macSlot{dst: v.Field(f.macIndex)})
	w.jobs[len(w.jobs)-1].mac = int32(len(w.macs))
}

// tweak returns the FF1 tweak of a token job: version 2 (with the scope)
// for fields with a tokenmac, version 1 otherwise.
func (j *job) tweak() []byte {
	if !j.field.hasMAC {
		return j.field.tweak
	}
	t := make([]byte, 0, len(tweakLabel)+8+len(j.scope)+len(j.field.name))
	t = append(t, tweakLabel...)
	t = appendLenPrefixed(t, j.scope)
	return appendLenPrefixed(t, j.field.name)
}

// sealToken tokenizes a job's input and, for a field with a tokenmac,
// computes the MAC of the token.
func (w *walker) sealToken(j *job) error {
	tk, err := j.keys.Tokenizer()
	if err != nil {
		return err
	}
	if j.outStr, err = tk.Tokenize(j.field.token, j.tweak(), j.in); err != nil {
		return err
	}
	if j.field.hasMAC {
		if w.macs[j.mac-1].out, err = w.tokenMAC(j, j.outStr); err != nil {
			return err
		}
	}
	return nil
}

// openToken checks a token's MAC, if its field has a tokenmac, and
// detokenizes it.
func (w *walker) openToken(j *job) error {
	if j.field.hasMAC {
		want, err := w.tokenMAC(j, j.in)
		if err != nil {
			return err
		}
		if !hmac.Equal([]byte(w.macs[j.mac-1].dst.String()), []byte(want)) {
			return ErrAuthentication
		}
	}
	tk, err := j.keys.Tokenizer()
	if err != nil {
		return err
	}
	j.outStr, err = tk.Detokenize(j.field.token, j.tweak(), j.in)
	return err
}

// tokenMAC computes the MAC of token for job j.
func (w *walker) tokenMAC(j *job, token string) (string, error) {
	rec := w.recOf(j)
	record := ""
	if j.field.boundToRecord(rec) {
		record = rec.record
	}
	in := w.ad[:0] // holds the subject, zeroed with the walker
	in = append(in, macLabel...)
	in = appendLenPrefixed(in, j.subject)
	in = appendLenPrefixed(in, j.scope)
	in = appendLenPrefixed(in, record)
	in = appendLenPrefixed(in, j.field.name)
	in = appendLenPrefixed(in, token)
	w.ad = in
	sum, err := j.keys.PRF.ComputePrimaryPRF(in, macBytes)
	if err != nil {
		return "", fmt.Errorf("pii: token MAC: %w", err)
	}
	return macPrefix + macEncoding.EncodeToString(sum), nil
}

func appendLenPrefixed(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// UnauthenticatedFields lists the fields of T (as paths such as
// "Customer.SSN") whose values are not authenticated: token fields without
// a `pii:"tokenmac=…"` companion. Such a token that is altered, or copied
// from another record or person, opens to another plausible value without
// an error; tokens give confidentiality, not integrity. It returns nil if T
// has none, and the TagError if T's tags are invalid.
func UnauthenticatedFields[T any]() ([]string, error) {
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
	var out []string
	onPath := map[*structPlan]bool{}
	var walk func(st *structPlan, path string)
	walk = func(st *structPlan, path string) {
		if onPath[st] {
			return
		}
		onPath[st] = true
		for _, f := range st.fields {
			p := path + "." + f.goName
			if f.inline {
				p = path
			}
			if f.token != "" && !f.hasMAC && !vaultAuthenticated(&f) {
				out = append(out, p)
			}
			for n := f.node; n != nil; n = n.elem {
				if n.kind == nStruct {
					walk(n.st, p)
				}
			}
		}
		delete(onPath, st)
	}
	walk(rp.st, rp.st.name)
	return out, nil
}

// vaultAuthenticated reports whether every value of token field f is a
// vaulted token whose mapping is bound to its subject and field: an altered
// or copied token then finds no mapping and fails to open, as a MAC would
// make it. survive mappings are shared by every subject, so not.
func vaultAuthenticated(f *fieldPlan) bool {
	v := f.vault
	return v != nil && v.enabled && !v.survive && (v.always || !vaulttoken.FF1Capable(f.token))
}
