package blindindex

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/crypto/argon2"
)

// Term sizes, in bits.
const (
	MinBits     = 8
	MaxBits     = 128
	DefaultBits = 16 // within CipherSweet's rule for 131,072 to 4.29e9 rows; see Plan
)

// MaxInputs is the largest number of values of a compound index.
const MaxInputs = 16

// RootKeySize is the size of a RootKey, in bytes.
const RootKeySize = 32

// RootKey is the secret of one key version from which every index key of
// that version is derived. Keep it apart from token and record-addressing
// keys. It never prints its bytes.
type RootKey struct {
	b []byte
}

// NewRootKey returns a RootKey holding a copy of b, which must be 32
// bytes long (else ErrInvalidKey).
func NewRootKey(b []byte) (RootKey, error) {
	if len(b) != RootKeySize {
		return RootKey{}, ErrInvalidKey
	}
	return RootKey{b: append([]byte(nil), b...)}, nil
}

// GenerateRootKey returns a new random RootKey.
func GenerateRootKey() RootKey {
	b := make([]byte, RootKeySize)
	rand.Read(b) // never fails on supported platforms
	return RootKey{b: b}
}

// String never reveals the key.
func (k RootKey) String() string { return "blindindex.RootKey([redacted])" }

// GoString never reveals the key.
func (k RootKey) GoString() string { return k.String() }

// Format never reveals the key, whatever the verb.
func (k RootKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// Name says which index a key is for. Each part is bound into the key
// derivation, so two indexes that differ in any part have unrelated keys
// and terms. Keep the parts stable (a renamed Go field must not change
// them): Scope is the record type's scope, Field the indexed field (or
// the index field, for a compound index), Index the index's own name.
type Name struct {
	Scope, Field, Index string
}

// Definition is what an index computes: the transform of each value, the
// bits it keeps and whether it is slow. The whole definition is bound into
// the key, so changing any of it changes every term: treat it like a new
// key version (re-index).
type Definition struct {
	// Inputs holds one transform per value: one for a simple index,
	// several (at most MaxInputs) for a compound one. Empty means one
	// value, unchanged.
	Inputs []Transform
	// Bits is the term size, MinBits to MaxBits; 0 means DefaultBits.
	// A size that is not a multiple of 8 is kept exactly, the unused low
	// bits of the last byte set to zero.
	Bits int
	// Slow, if not nil, passes each term through Argon2id with these
	// parameters.
	Slow *Argon2Params
}

// Arity returns the number of values the index takes.
func (d Definition) Arity() int { return max(1, len(d.Inputs)) }

func (d Definition) bits() int {
	if d.Bits == 0 {
		return DefaultBits
	}
	return d.Bits
}

func (d Definition) input(i int) Transform {
	if len(d.Inputs) == 0 {
		return Transform{}
	}
	return d.Inputs[i]
}

// Validate checks the bits, the number of inputs and the slow
// parameters, with a *SpecError.
func (d Definition) Validate() error {
	if d.Bits != 0 {
		if err := checkBits(d.Bits); err != nil {
			return err
		}
	}
	if len(d.Inputs) > MaxInputs {
		return &SpecError{Option: strconv.Itoa(len(d.Inputs)) + " inputs", Reason: "a compound index takes at most " + strconv.Itoa(MaxInputs) + " values"}
	}
	if d.Slow != nil {
		return d.Slow.Validate()
	}
	return nil
}

// ParseBits parses the value of a bits option: a decimal number from
// MinBits to MaxBits. Anything else is a *SpecError.
func ParseBits(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] == '0' || s[0] == '+' {
		return 0, &SpecError{Option: s, Reason: "bits must be a decimal number from " + strconv.Itoa(MinBits) + " to " + strconv.Itoa(MaxBits)}
	}
	return n, checkBits(n)
}

func checkBits(n int) error {
	if n < MinBits || n > MaxBits {
		return &SpecError{Option: strconv.Itoa(n), Reason: "bits must be from " + strconv.Itoa(MinBits) + " to " + strconv.Itoa(MaxBits)}
	}
	return nil
}

// String describes d canonically, as "trim+fold|digits;bits=16;slow=m19456+t2+p1"
// (inputs joined by '|'; the identity transform is empty).
func (d Definition) String() string {
	b := make([]byte, 0, 64)
	for i := range d.Arity() {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, d.input(i).String()...)
	}
	b = append(b, ";bits="...)
	b = strconv.AppendInt(b, int64(d.bits()), 10)
	if d.Slow != nil {
		b = append(b, ";slow="...)
		b = append(b, d.Slow.String()...)
	}
	return string(b)
}

// Normalize applies each input's transform to its value, as Term does
// before hashing. To keep the true matches among the candidates a lookup
// returns, compare the normalised values of the query and of each opened
// candidate. Errors are an *ArityError or a *ValueError.
func (d Definition) Normalize(values ...string) ([]string, error) {
	if len(values) != d.Arity() {
		return nil, &ArityError{Want: d.Arity(), Got: len(values)}
	}
	out := make([]string, len(values))
	for i, v := range values {
		s, err := d.input(i).apply(i, v)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// encode appends the hashed message: the number of values, then each
// normalised value, each preceded by its length, as 4-byte big-endian
// integers. ("ab","c") and ("a","bc") differ.
func (d Definition) encode(b []byte, values []string) ([]byte, error) {
	if len(values) != d.Arity() {
		return b, &ArityError{Want: d.Arity(), Got: len(values)}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)))
	for i, v := range values {
		s, err := d.input(i).apply(i, v)
		if err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// Labels of the derivations (domain separation).
const (
	labelTermKey = "fieldcrypt blindindex v1 term key"
	labelSalt    = "fieldcrypt blindindex v1 argon2id salt"
)

// deriveInfo is the HKDF info of a term key: length-prefixed label,
// version, name and definition.
func deriveInfo(version uint32, name Name, d Definition) []byte {
	b := make([]byte, 0, 128)
	lp := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	lp(labelTermKey)
	b = binary.BigEndian.AppendUint32(b, version)
	lp(name.Scope)
	lp(name.Field)
	lp(name.Index)
	b = binary.BigEndian.AppendUint32(b, uint32(d.Arity()))
	for i := range d.Arity() {
		lp(d.input(i).String())
	}
	b = binary.BigEndian.AppendUint32(b, uint32(d.bits()))
	if d.Slow == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, d.Slow.MemoryKiB)
		b = binary.BigEndian.AppendUint32(b, d.Slow.Time)
		b = append(b, d.Slow.Threads)
	}
	return b
}

// Key computes the terms of one index with one key version. Prepare it
// once per (name, definition, version) and keep it: Term then costs one
// HMAC-SHA256 (plus the transforms, plus Argon2id for a slow index). A
// Key is safe for concurrent use.
type Key struct {
	version uint32
	def     Definition
	bits    int
	slow    *Argon2Params
	salt    []byte // of a slow index
	states  sync.Pool
}

// state is one goroutine's HMAC and scratch space.
type state struct {
	h   hash.Hash
	buf []byte // the encoded message, for Keyring.Terms
	sum []byte
	hdr [4]byte
}

// NewKey derives the term key of one index and key version from root:
//
//	termKey = HKDF-SHA256(ikm = root, salt = none, info = deriveInfo, 32 bytes)
//
// where info is the length-prefixed label "fieldcrypt blindindex v1 term
// key", the version, name and the whole definition. Errors:
// ErrInvalidVersion, ErrInvalidKey, a *SpecError for a bad definition.
func NewKey(root RootKey, version uint32, name Name, d Definition) (*Key, error) {
	if version == 0 {
		return nil, ErrInvalidVersion
	}
	if len(root.b) != RootKeySize {
		return nil, ErrInvalidKey
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	tk, err := hkdf.Key(sha256.New, root.b, nil, string(deriveInfo(version, name, d)), 32)
	if err != nil {
		return nil, fmt.Errorf("blindindex: deriving the term key: %w", err)
	}
	k := &Key{version: version, bits: d.bits()}
	k.def = Definition{Inputs: append([]Transform(nil), d.Inputs...), Bits: d.Bits}
	if d.Slow != nil {
		p := *d.Slow
		k.slow, k.def.Slow = &p, &p
		m := hmac.New(sha256.New, tk)
		m.Write([]byte(labelSalt))
		k.salt = m.Sum(nil)[:16]
	}
	k.states.New = func() any {
		return &state{h: hmac.New(sha256.New, tk), sum: make([]byte, 0, sha256.Size)}
	}
	return k, nil
}

// Version returns the key version.
func (k *Key) Version() uint32 { return k.version }

// Definition returns the index definition (a copy).
func (k *Key) Definition() Definition {
	d := k.def
	d.Inputs = append([]Transform(nil), d.Inputs...)
	return d
}

// String never reveals the key.
func (k *Key) String() string {
	return fmt.Sprintf("blindindex.Key(v%d, %s, [redacted])", k.version, k.def.String())
}

// GoString never reveals the key.
func (k *Key) GoString() string { return k.String() }

// Format never reveals the key, whatever the verb.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// Term returns the term of values (one per input):
//
//	m    = uint32(n) || for each value: uint32(len(v')) || v'     (v' transformed)
//	h    = HMAC-SHA256(termKey, m)
//	h    = Argon2id(password = h, salt = HMAC-SHA256(termKey, label)[:16], params, 32 bytes)   (slow only)
//	term = the first bits of h
//
// Errors: an *ArityError, a *ValueError.
func (k *Key) Term(values ...string) (Term, error) {
	if len(values) != k.def.Arity() {
		return Term{}, &ArityError{Want: k.def.Arity(), Got: len(values)}
	}
	st := k.states.Get().(*state)
	// The message goes straight into the HMAC, value by value, without
	// a copy (the hash does not keep the bytes it is given).
	st.h.Reset()
	hdr := st.hdr[:]
	binary.BigEndian.PutUint32(hdr, uint32(len(values)))
	st.h.Write(hdr)
	for i, v := range values {
		s, err := k.def.input(i).apply(i, v)
		if err != nil {
			k.states.Put(st)
			return Term{}, err
		}
		binary.BigEndian.PutUint32(hdr, uint32(len(s)))
		st.h.Write(hdr)
		st.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
	}
	t := k.finish(st)
	k.states.Put(st)
	return t, nil
}

// hash computes the term of an encoded message with st, one of k's states.
func (k *Key) hash(st *state, msg []byte) Term {
	st.h.Reset()
	st.h.Write(msg)
	return k.finish(st)
}

// finish completes the term from the HMAC state of st.
func (k *Key) finish(st *state) Term {
	st.sum = st.h.Sum(st.sum[:0])
	sum := st.sum
	if k.slow != nil {
		sum = argon2.IDKey(sum, k.salt, k.slow.Time, k.slow.MemoryKiB, k.slow.Threads, 32)
	}
	return truncate(k.version, k.bits, sum)
}

// truncate keeps the first bits of sum.
func truncate(version uint32, bits int, sum []byte) Term {
	n := (bits + 7) / 8
	t := Term{version: version, n: uint8(n)}
	copy(t.b[:n], sum)
	if r := bits % 8; r != 0 {
		t.b[n-1] &= byte(0xFF << (8 - r))
	}
	return t
}
