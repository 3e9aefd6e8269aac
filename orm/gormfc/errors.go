package gormfc

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; the typed errors below wrap
// them (or pii's errors). No error holds a value, a ciphertext or a key.
var (
	// ErrPlaintextWrite: a statement would write a column that holds
	// sealed values (a protected field, a tokenmac or a blind-index
	// field) with a value the plugin did not seal: an Update or UpdateColumn
	// of such a column, Updates or Create with a map that names one, or
	// Updates with a struct of another type whose field maps to one
	// without being protected in that type. Update the model struct
	// instead (Save, or Model(&m).Select(...).Updates(&m)), or pass the
	// value as a pii.Sealed or pii.SealedString that holds a ciphertext.
	ErrPlaintextWrite = errors.New("gormfc: a column of sealed values would be written with a value that is not sealed")

	// ErrAssociation: a Create or Update would save, along with the
	// model, an association (has one, has many, belongs to, many to many)
	// whose type has protected fields. Save those records with their own
	// Create, or leave them out with Omit(clause.Associations).
	ErrAssociation = errors.New("gormfc: associations with protected fields are not saved with their parent")

	// ErrIndexColumn: the blind-index expression of WhereIndex was used in
	// a statement whose model is not the type it was made for, or whose
	// schema has no column for the index field.
	ErrIndexColumn = errors.New("gormfc: no column for the blind index in this statement's model")
)

// Error reports the failure of the plugin on one statement: sealing the
// values to write, opening the rows read, or a refused write.
type Error struct {
	Op     string // "create", "update" or "query"
	Table  string // the statement's table, if known
	Column string // the column a refused write names, if any
	Err    error  // ErrPlaintextWrite, ErrAssociation, or the error of pii's Seal or Open
}

func (e *Error) Error() string {
	s := "gormfc: " + e.Op
	if e.Table != "" {
		s += " " + e.Table
	}
	if e.Column != "" {
		s += fmt.Sprintf(" column %q", e.Column)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// OpenError reports rows of a query that did not open: Errs has one entry
// per row of the destination, nil for a row that opened. A row that did
// not open is left as it was read (sealed); the others are opened. Each
// error is a *pii.FieldError wrapping pii.ErrForgotten,
// pii.ErrAuthentication, pii.ErrNotSealed and so on, so errors.Is finds
// them through OpenError.
type OpenError struct {
	Table string
	Errs  []error
}

func (e *OpenError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("gormfc: query %s: %d of %d rows did not open; first: %v", e.Table, n, len(e.Errs), first)
}

// Unwrap returns the errors of the rows that did not open.
func (e *OpenError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
