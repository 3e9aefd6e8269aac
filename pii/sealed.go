package pii

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"reflect"
	"time"
	"unsafe"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/internal/valuecodec"
)

// Sealed holds one typed value of personal data: a time.Time, an integer,
// a float, a bool, a string, a []byte, or any type implementing
// encoding.BinaryMarshaler or encoding.TextMarshaler (and the matching
// Unmarshaler on its pointer). It is a struct field type: Seal encrypts
// the value in place, Open decrypts it, exactly as for a string field
// tagged `pii:"encrypt"`, and every option of that tag applies
// (deterministic, name=, bind=, bindindex, record binding).
//
//	type Employee struct {
//	    ID     string               `pii:"subject"`
//	    Born   pii.Sealed[time.Time]                        // implicitly encrypt
//	    Salary pii.Sealed[int64]    `pii:"encrypt,name=salary"`
//	    Staff  pii.Sealed[bool]     `pii:"encrypt,deterministic"`
//	}
//
// A Sealed value is in one of four states, and holds a plaintext or a
// ciphertext, never both:
//
//   - null: the zero value, and what a NULL column scans to. Seal and Open
//     leave it alone, Value writes NULL, JSON is null, Get fails with
//     ErrNull.
//   - plain: made by NewSealed or Set, or by Open. Get returns the value.
//     Value and MarshalJSON refuse it (ErrNotSealed): a forgotten Seal can
//     never put plaintext into a column or a JSON document.
//   - sealed: made by Seal, Scan or UnmarshalJSON; holds the text form of
//     the ciphertext ("fc1a.…"), which Value and MarshalJSON write and
//     Ciphertext returns. Get fails with ErrNotOpened. Seal refuses it
//     (ErrAlreadySealed), as it refuses a sealed string: Open first, or
//     leave the struct as it is.
//   - erased: what Open leaves, with WithErasedPlaceholder, in the place of
//     a value whose subject was forgotten. Get fails with ErrForgotten;
//     Value and MarshalJSON refuse it.
//
// The plaintext that is encrypted is the canonical encoding of the value
// (package internal/valuecodec): a version byte, a byte naming the kind of
// value, then the value. A time.Time keeps its instant only (the monotonic
// reading and the location are dropped; Open returns it in UTC).
// Integers and floats are stored as 64 bits, so a Sealed[int32] column can
// be read as a Sealed[int64]; reading a value that does not fit, or a value
// of another kind (a column holding a Sealed[string] read as a
// Sealed[time.Time]), fails with ErrTypeMismatch, naming the field.
//
// Without a tag, a Sealed field (or a pointer, slice, array or map of them)
// is protected as if tagged `pii:"encrypt"`: the type says what to do, and a
// Sealed field is never left in plaintext. `pii:"-"` leaves it alone (it
// then still refuses to be written unsealed). It cannot be a token field.
// `pii:"encrypt,deterministic"` is refused, with a *TagError, for a T whose
// encoding fieldcrypt does not control (marshaler types): equal values
// might not give equal ciphertexts. A T that cannot be encoded (a struct,
// a map, a pointer, ...) is a *TagError. Sealed values cannot be compared
// with == and cannot be map keys (it does not compile), and a Sealed value
// behind an interface is refused with ErrUnprotectedInterface.
//
// Sealed implements driver.Valuer and sql.Scanner (a text column holds the
// ciphertext), json.Marshaler and json.Unmarshaler (a JSON string holds
// the ciphertext), and prints as "[redacted]" with fmt and log/slog.
type Sealed[T any] struct {
	_     [0]func() // not comparable: no ==, no map keys
	value T
	ct    string
	state sealedState
}

type sealedState uint8

const (
	stateNull sealedState = iota
	statePlain
	stateSealed
	stateErased
)

// Errors of Sealed values. ErrNotSealed (Value, MarshalJSON of a value
// that was not sealed) and ErrForgotten are also used.
var (
	// ErrNotOpened: Get of a Sealed value that holds a ciphertext. Open the
	// struct that holds it first.
	ErrNotOpened = errors.New("pii: value is sealed: Open it before reading it")

	// ErrNull: Get of a Sealed value that holds nothing (the zero value, or
	// a NULL column).
	ErrNull = errors.New("pii: value is null")

	// ErrTypeMismatch: Open decrypted a Sealed value that holds another
	// type's value (a column of another type's ciphertexts under the same
	// field name), or a number that does not fit the field's type.
	ErrTypeMismatch = errors.New("pii: sealed value holds another type")
)

// NewSealed returns a Sealed holding the plaintext v, to be sealed by Seal.
func NewSealed[T any](v T) Sealed[T] {
	return Sealed[T]{value: v, state: statePlain}
}

// Set makes s hold the plaintext v, dropping whatever it held.
func (s *Sealed[T]) Set(v T) {
	*s = Sealed[T]{value: v, state: statePlain}
}

// SetNull makes s null, dropping whatever it held.
func (s *Sealed[T]) SetNull() {
	*s = Sealed[T]{}
}

// Get returns the plaintext value. It fails with ErrNotOpened if s holds a
// ciphertext, ErrNull if it is null, and ErrForgotten if Open found the
// subject forgotten (WithErasedPlaceholder); never with a zero value
// silently.
func (s Sealed[T]) Get() (T, error) {
	var zero T
	switch s.state {
	case statePlain:
		return s.value, nil
	case stateSealed:
		return zero, ErrNotOpened
	case stateErased:
		return zero, ErrForgotten
	}
	return zero, ErrNull
}

// IsNull reports whether s holds nothing.
func (s Sealed[T]) IsNull() bool { return s.state == stateNull }

// IsSealed reports whether s holds a ciphertext.
func (s Sealed[T]) IsSealed() bool { return s.state == stateSealed }

// Ciphertext returns the text form of the ciphertext s holds, and whether
// it holds one: for queries on deterministic fields (WHERE column = $1).
func (s Sealed[T]) Ciphertext() (string, bool) {
	return s.ct, s.state == stateSealed
}

// Value implements driver.Valuer: the ciphertext as a string, or NULL for a
// null value. A value that holds a plaintext (not sealed yet, or opened)
// fails with an error wrapping ErrNotSealed, and an erased one with
// ErrForgotten: plaintext never reaches a column.
func (s Sealed[T]) Value() (driver.Value, error) {
	switch s.state {
	case stateSealed:
		return s.ct, nil
	case stateNull:
		return nil, nil
	case stateErased:
		return nil, fmt.Errorf("pii: writing a %s: %w (it was opened with a placeholder)", s.typeName(), ErrForgotten)
	}
	return nil, fmt.Errorf("pii: writing a %s: %w: Seal the struct that holds it first", s.typeName(), ErrNotSealed)
}

// Scan implements sql.Scanner. A NULL column makes s null; a string or
// []byte must be the text form of a ciphertext (strictly: ErrNotSealed for
// anything else, ErrMalformed for a damaged one), which s then holds,
// sealed. Whether it opens, and to a value of type T, is known at Open. On
// error s is unchanged.
func (s *Sealed[T]) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case nil:
		s.SetNull()
		return nil
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("pii: scanning a %T into a %s: %w: want a text column", src, s.typeName(), ErrInvalidArgument)
	}
	if err := checkCiphertext(text); err != nil {
		return fmt.Errorf("pii: scanning a %s: %w", s.typeName(), err)
	}
	*s = Sealed[T]{ct: text, state: stateSealed}
	return nil
}

// checkCiphertext parses text strictly: nil if it is the text form of a
// ciphertext, else ErrNotSealed or ErrMalformed.
func checkCiphertext(text string) error {
	_, _, _, err := envelope.ParseText(text, nil)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, envelope.ErrNotSealed):
		return ErrNotSealed
	}
	return ErrMalformed
}

// MarshalJSON implements json.Marshaler: the ciphertext as a JSON string,
// or null. A plaintext fails with ErrNotSealed, as Value does: a struct
// that holds an opened Sealed value does not go out as JSON by accident.
// Copy the values you mean to send into a struct of plain types.
func (s Sealed[T]) MarshalJSON() ([]byte, error) {
	switch s.state {
	case stateSealed:
		return json.Marshal(s.ct)
	case stateNull:
		return []byte("null"), nil
	}
	_, err := s.Value()
	return nil, err
}

// UnmarshalJSON implements json.Unmarshaler: null, or a JSON string holding
// the text form of a ciphertext. Anything else (a plaintext number, string,
// ...) fails with ErrNotSealed or ErrMalformed; s is then unchanged.
func (s *Sealed[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		s.SetNull()
		return nil
	}
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return fmt.Errorf("pii: reading a %s from JSON: %w: want a ciphertext string", s.typeName(), ErrNotSealed)
	}
	if err := checkCiphertext(text); err != nil {
		return fmt.Errorf("pii: reading a %s from JSON: %w", s.typeName(), err)
	}
	*s = Sealed[T]{ct: text, state: stateSealed}
	return nil
}

// String returns "[redacted]", whatever s holds.
func (s Sealed[T]) String() string { return Redacted }

// GoString returns "[redacted]", whatever s holds.
func (s Sealed[T]) GoString() string { return Redacted }

// Format writes "[redacted]" for every verb, so that %d or %+v do not
// print the value.
func (s Sealed[T]) Format(f fmt.State, _ rune) { io.WriteString(f, Redacted) }

// LogValue implements slog.LogValuer: "[redacted]".
func (s Sealed[T]) LogValue() slog.Value { return slog.StringValue(Redacted) }

func (s Sealed[T]) typeName() string {
	return "pii.Sealed[" + reflect.TypeFor[T]().String() + "]"
}

// The walker reaches Sealed values through sealedValue, whose methods are
// unexported so that only Sealed implements it.
type sealedValue interface {
	sealedType() reflect.Type // Sealed[T] itself (not a type embedding it)
	plainType() reflect.Type  // T
	sealedState() (sealedState, string)
	plainValue() reflect.Value // the value, settable
	setSealed(ct string)
	setOpened(v reflect.Value)
	setErased()
	// The direct path (sealed_walk.go), without reflection, for T one of
	// the types valuecodec.Codec.Direct serves; ok false for the others.
	plainLen() (n int, ok bool)
	appendPlain(dst []byte) (b []byte, ok bool, err error)
	setScalar(sc *valuecodec.Scalar)
	// at returns the sealedValue of the Sealed value of the same type at
	// p, which must point to one.
	at(p unsafe.Pointer) sealedValue
}

func (s *Sealed[T]) sealedType() reflect.Type { return reflect.TypeFor[Sealed[T]]() }
func (s *Sealed[T]) plainType() reflect.Type  { return reflect.TypeFor[T]() }
func (s *Sealed[T]) sealedState() (sealedState, string) {
	return s.state, s.ct
}
func (s *Sealed[T]) plainValue() reflect.Value { return reflect.ValueOf(&s.value).Elem() }
func (s *Sealed[T]) setSealed(ct string)       { *s = Sealed[T]{ct: ct, state: stateSealed} }
func (s *Sealed[T]) setOpened(v reflect.Value) {
	*s = Sealed[T]{state: statePlain}
	reflect.ValueOf(&s.value).Elem().Set(v)
}
func (s *Sealed[T]) setErased() { *s = Sealed[T]{state: stateErased} }

func (s *Sealed[T]) at(p unsafe.Pointer) sealedValue { return (*Sealed[T])(p) }

func (s *Sealed[T]) plainLen() (int, bool) {
	switch p := any(&s.value).(type) {
	case *string:
		return len(*p), true
	case *[]byte:
		return len(*p), true
	case *time.Time, *int64, *int, *uint64, *float64, *bool:
		return 0, true
	}
	return 0, false
}

func (s *Sealed[T]) appendPlain(dst []byte) ([]byte, bool, error) {
	switch p := any(&s.value).(type) {
	case *time.Time:
		b, err := valuecodec.AppendTime(dst, *p)
		return b, true, err
	case *int64:
		return valuecodec.AppendInt(dst, *p), true, nil
	case *int:
		return valuecodec.AppendInt(dst, int64(*p)), true, nil
	case *uint64:
		return valuecodec.AppendUint(dst, *p), true, nil
	case *float64:
		return valuecodec.AppendFloat(dst, *p), true, nil
	case *bool:
		return valuecodec.AppendBool(dst, *p), true, nil
	case *string:
		return valuecodec.AppendString(dst, *p), true, nil
	case *[]byte:
		return valuecodec.AppendBytes(dst, *p), true, nil
	}
	return dst, false, nil
}

// setScalar makes s hold the decoded value sc (DecodeScalar of T's
// codec, which is Direct).
func (s *Sealed[T]) setScalar(sc *valuecodec.Scalar) {
	*s = Sealed[T]{state: statePlain}
	switch p := any(&s.value).(type) {
	case *time.Time:
		*p = sc.T
	case *int64:
		*p = int64(sc.N)
	case *int:
		*p = int(int64(sc.N))
	case *uint64:
		*p = sc.N
	case *float64:
		*p = math.Float64frombits(sc.N)
	case *bool:
		*p = sc.N == 1
	case *string:
		*p = sc.S
	case *[]byte:
		*p = sc.B
	}
}

var (
	sealedValueType = reflect.TypeFor[sealedValue]()

	_ driver.Valuer    = Sealed[int]{}
	_ sql.Scanner      = (*Sealed[int])(nil)
	_ json.Marshaler   = Sealed[int]{}
	_ json.Unmarshaler = (*Sealed[int])(nil)
	_ slog.LogValuer   = Sealed[int]{}
)

// isSealedType reports whether t is an instance of Sealed (and not a type
// that embeds one, whose methods it promotes).
func isSealedType(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || !reflect.PointerTo(t).Implements(sealedValueType) {
		return false
	}
	return reflect.New(t).Interface().(sealedValue).sealedType() == t
}

// sealedShape reports whether t is a Sealed type, or pointers, slices,
// arrays and maps of one. A container that contains itself (type L []L)
// is not.
func sealedShape(t reflect.Type) bool {
	var seen []reflect.Type
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			for _, s := range seen {
				if s == t {
					return false
				}
			}
			seen = append(seen, t)
			t = t.Elem()
		case reflect.Struct:
			return isSealedType(t)
		default:
			return false
		}
	}
}

// SealedString is a string column type that refuses to write plaintext:
// its Value fails with ErrNotSealed unless the string is empty or the text
// form of a ciphertext (parsed strictly; ErrMalformed for a damaged one).
// Use it for string fields tagged `pii:"encrypt"` (it is a string, so every
// option of the tag applies) whose column must never hold plaintext:
//
//	Email pii.SealedString `pii:"encrypt"`
//
// An empty string is written as it is, as Seal leaves it (unless
// WithEncryptEmpty). Scan reads any text (NULL as ""), so that a column
// still holding plaintext can be read in migration mode and sealed.
type SealedString string

// Value implements driver.Valuer.
func (s SealedString) Value() (driver.Value, error) {
	if s == "" {
		return "", nil
	}
	if err := checkCiphertext(string(s)); err != nil {
		return nil, fmt.Errorf("pii: writing a pii.SealedString: %w", err)
	}
	return string(s), nil
}

// Scan implements sql.Scanner.
func (s *SealedString) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s = ""
	case string:
		*s = SealedString(v)
	case []byte:
		*s = SealedString(v)
	default:
		return fmt.Errorf("pii: scanning a %T into a pii.SealedString: %w: want a text column", src, ErrInvalidArgument)
	}
	return nil
}

var (
	_ driver.Valuer = SealedString("")
	_ sql.Scanner   = (*SealedString)(nil)
)
