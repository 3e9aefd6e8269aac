package pii

import (
	"errors"
	"fmt"
	"reflect"
)

// Sentinel errors. Match them with errors.Is; the typed errors below wrap
// them.
var (
	// ErrForgotten: the subject was erased with Forget. Their data cannot be
	// opened, and no new data can be sealed for them unless they are
	// readmitted.
	ErrForgotten = errors.New("pii: subject forgotten")

	// ErrAuthentication: a sealed value failed to open. It was tampered with,
	// or copied from another field, subject or struct type — or, with a
	// record field, from another record; with bindindex, from another
	// position — or it is a token whose tokenmac is missing or wrong.
	ErrAuthentication = errors.New("pii: authentication failed")

	// ErrNotSealed: Open found a non-empty value without a ciphertext prefix
	// and the Protector is not in migration mode. Also returned (wrapped) by
	// Sealed.Value, Sealed.MarshalJSON and SealedString.Value for a value
	// that was not sealed, so a forgotten Seal never reaches a column or a
	// JSON document.
	ErrNotSealed = errors.New("pii: value is not sealed")

	// ErrMalformed: a value has the ciphertext prefix but is not a valid
	// ciphertext (bad base64, too short, unknown version: versions 1 and 2
	// are read).
	ErrMalformed = errors.New("pii: malformed ciphertext")

	// ErrNoSubject: a value to seal or open sits in a struct whose subject
	// field is empty.
	ErrNoSubject = errors.New("pii: empty subject")

	// ErrKeyNotFound: Open found a sealed value but the key store has no key
	// for its subject (and no tombstone): the store is not the one the data
	// was sealed with, or it lost data.
	ErrKeyNotFound = errors.New("pii: no key for subject")

	// ErrInvalidArgument: the value passed to Seal, Open or their batch
	// variants is not of a shape they accept.
	ErrInvalidArgument = errors.New("pii: invalid argument")

	// ErrCycle: the value refers to itself through pointers.
	ErrCycle = errors.New("pii: pointer cycle")

	// ErrAmbiguousToken: Open in migration mode met a token field whose
	// format cannot tell a token from a plaintext value (every format but
	// pan). Tokenize such columns in bulk before reading them with Open.
	ErrAmbiguousToken = errors.New("pii: migration mode cannot tell a token from a plaintext value in this field")

	// ErrTooDeep: the value nests pointers, slices, maps or interfaces more
	// than MaxDepth levels deep (a very long linked list, for example).
	ErrTooDeep = errors.New("pii: value nested too deep")

	// ErrUnprotectedInterface: an interface field (any, or a slice, map or
	// pointer of them) holds a struct with protected fields. Seal does not
	// seal values behind interfaces, so it refuses rather than leave them
	// in the clear; Open refuses the same values. Give the field a concrete
	// type.
	ErrUnprotectedInterface = errors.New("pii: a struct with protected fields is held by an interface, which fieldcrypt does not seal: give the field a concrete type")

	// ErrAlreadySealed: Seal met an encrypt field whose value is already a
	// ciphertext (text starting with "fc", a digit, a letter and "."; or
	// binary starting with 0xFC, a version byte and a mode, long enough to
	// be one). Sealing it again would make Open return the inner
	// ciphertext. A plaintext that happens to look like a ciphertext is
	// refused too: the two cannot be told apart.
	ErrAlreadySealed = errors.New("pii: value is already sealed")

	// ErrValueTooLarge: a value to seal, or a sealed value to open, is
	// longer than its field allows (WithMaxValueSize for encrypt fields;
	// MaxTokenBytes for token fields). It is refused before any work
	// proportional to its length.
	ErrValueTooLarge = errors.New("pii: value too large")
)

// TagError reports a `pii` tag that cannot be used, or a type that cannot be
// protected. It is returned the first time a type is used, and every time
// after.
type TagError struct {
	Type   reflect.Type // the struct type holding the field
	Field  string       // the Go field name ("" for the type as a whole)
	Reason string
}

func (e *TagError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("pii: type %v: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("pii: field %v.%s: %s", e.Type, e.Field, e.Reason)
}

// FieldError reports a failure to seal or open one field. Path locates the
// field in the value (for example "Customer.Phones[2].Number"; map values
// show as "[…]", because map keys may be personal data). It never holds the
// field's value.
type FieldError struct {
	Path string
	Op   string // "seal" or "open"
	Err  error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("pii: %s %s: %v", e.Op, e.Path, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }
