package blindindex

import (
	"errors"
	"fmt"
)

// Sentinels, for errors.Is. No error of this package holds a value being
// indexed, a key or a term.
var (
	// ErrSpec is wrapped by every *SpecError.
	ErrSpec = errors.New("blindindex: invalid index spec")
	// ErrInvalidKey: a root key that is not 32 bytes.
	ErrInvalidKey = errors.New("blindindex: root key must be 32 bytes")
	// ErrInvalidVersion: key version 0 (versions start at 1).
	ErrInvalidVersion = errors.New("blindindex: key version must be at least 1")
	// ErrInvalidValue is wrapped by every *ValueError.
	ErrInvalidValue = errors.New("blindindex: value cannot be indexed")
	// ErrInvalidUTF8: a text transform was given bytes that are not UTF-8.
	ErrInvalidUTF8 = errors.New("blindindex: value is not valid UTF-8")
	// ErrNotEmail: email-local or email-domain was given a value without
	// a non-empty local part and domain around an '@', or a domain that
	// is not a valid IDNA name.
	ErrNotEmail = errors.New("blindindex: value is not an email address")
	// ErrArity is wrapped by every *ArityError.
	ErrArity = errors.New("blindindex: wrong number of values for the index")
	// ErrInvalidTerm: ParseTerm or ParseTermBytes was given something
	// that is not a term.
	ErrInvalidTerm = errors.New("blindindex: malformed term")
	// ErrUnknownVersion: a Keyring has no key of the version asked for.
	ErrUnknownVersion = errors.New("blindindex: no key of that version")
	// ErrInvalidPlan: the planner was given impossible figures.
	ErrInvalidPlan = errors.New("blindindex: invalid planner input")
)

// SpecError reports a malformed transform, bits or slow spec. Option is
// the offending option or step as written in the spec (specs come from
// struct tags, not from data), Reason says what is wrong with it.
type SpecError struct {
	Option string
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("blindindex: invalid index spec: %q: %s", e.Option, e.Reason)
}

// Unwrap returns ErrSpec.
func (e *SpecError) Unwrap() error { return ErrSpec }

// ValueError reports a value a transform cannot apply to. Input is the
// position of the value among an index's values (0 for a simple index),
// Step the transform step that refused it; the value itself is never
// part of the error.
type ValueError struct {
	Input int
	Step  string
	Err   error // ErrInvalidUTF8 or ErrNotEmail
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("blindindex: value %d: %s: %v", e.Input, e.Step, e.Err)
}

// Unwrap returns ErrInvalidValue and the specific cause.
func (e *ValueError) Unwrap() []error { return []error{ErrInvalidValue, e.Err} }

// ArityError reports a call with the wrong number of values for an index.
type ArityError struct {
	Want, Got int
}

func (e *ArityError) Error() string {
	return fmt.Sprintf("blindindex: index takes %d value(s), got %d", e.Want, e.Got)
}

// Unwrap returns ErrArity.
func (e *ArityError) Unwrap() error { return ErrArity }
