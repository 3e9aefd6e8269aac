package pii

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/internal/valuecodec"
)

// The walk of Sealed values (sealed.go). A Sealed value becomes a job like
// a string value tagged encrypt, whose ciphertext is in the text form:
//
//   - sealed: job.in is the ciphertext, which Open parses and decrypts, and
//     which Seal refuses (ErrAlreadySealed), as for a string;
//   - plain: job.in is empty; Seal encrypts the value's encoding
//     (encodeTyped), and Open takes it for a value that is not sealed
//     (ErrNotSealed, or left alone in migration mode);
//   - null and erased: no job.
//
// The Sealed value itself and, on Open, its decoded value are kept aside
// in walker.typed; assignTyped writes them in phase 3.

// typedSlot is the Sealed value of a job.
type typedSlot struct {
	dst   sealedValue // the Sealed value, in the caller's memory or a copy
	codec *valuecodec.Codec
	out   reflect.Value // Open: the decoded value
	// opened: Open decoded the value of a T the codec decodes directly
	// (Codec.Direct), without reflection, into walker.scalars at the
	// slot's index.
	opened bool
}

// walkSealed makes the job of the Sealed value v (settable) of leaf node n.
func (w *walker) walkSealed(v reflect.Value, n *node, f *fieldPlan, scope, subject string, ri, path int32, direct bool) {
	// v is a settable value of type n.typ: n.sealed.at makes its
	// sealedValue with the itab of its type, known when the plan was made.
	var sv sealedValue
	if v.Type() == n.typ {
		sv = n.sealed.at(v.Addr().UnsafePointer())
	} else {
		sv, _ = reflect.TypeAssert[sealedValue](v.Addr()) // unreachable: plans are typed
	}
	state, ct := sv.sealedState()
	switch state {
	case stateSealed:
	case statePlain:
		// Encoded when sealed, into a scratch buffer (encodeTyped); a
		// string or []byte longer than the limit is refused here, before
		// any key is fetched.
		n, ok := sv.plainLen()
		if !ok {
			if pv := sv.plainValue(); pv.Kind() == reflect.String || pv.Kind() == reflect.Slice {
				n = pv.Len()
			}
		}
		if n > w.lim.value {
			j := job{dst: v, field: f, path: path, direct: direct}
			w.err = &FieldError{Path: w.jobPath(&j), Err: fmt.Errorf("%w: the limit is %d bytes (WithMaxValueSize)", ErrValueTooLarge, w.lim.value)}
			return
		}
	default:
		return
	}
	// Appended in place: a job is large, and copying one while the
	// garbage collector runs costs a write barrier per pointer slot.
	w.typed = append(w.typed, typedSlot{})
	slot := &w.typed[len(w.typed)-1]
	slot.dst, slot.codec = sv, n.codec
	j := w.newJob()
	j.dst, j.in, j.field, j.scope, j.subject = v, ct, f, scope, subject
	j.rec, j.path, j.direct, j.typed = ri, path, direct, int32(len(w.typed))
}

// encodeTyped returns the encoding of the plaintext of job j, in w.pt
// (which sealJob clears).
func (w *walker) encodeTyped(j *job) ([]byte, error) {
	slot := &w.typed[j.typed-1]
	pt, ok, err := slot.dst.appendPlain(w.pt[:0])
	if !ok {
		pt, err = slot.codec.Encode(w.pt[:0], slot.dst.plainValue())
	}
	if err != nil {
		// valuecodec's errors name types, never values.
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	w.pt = pt
	if len(pt) > w.lim.value {
		return nil, fmt.Errorf("%w: the limit is %d bytes (WithMaxValueSize)", ErrValueTooLarge, w.lim.value)
	}
	return pt, nil
}

// openTyped decodes the plaintext pt of job j into a new value of the
// Sealed value's type, for assignTyped. It clears pt.
func (w *walker) openTyped(j *job, pt []byte) error {
	slot := &w.typed[j.typed-1]
	var err error
	if slot.codec.Direct() {
		if len(w.scalars) < len(w.typed) {
			w.scalars = append(w.scalars, make([]valuecodec.Scalar, len(w.typed)-len(w.scalars))...)
		}
		w.scalars[j.typed-1], err = slot.codec.DecodeScalar(pt)
		slot.opened = err == nil
	} else {
		out := reflect.New(slot.codec.Type()).Elem()
		if err = slot.codec.Decode(pt, out); err == nil {
			slot.out = out
		}
	}
	clear(pt)
	if err == nil {
		return nil
	}
	var te *valuecodec.TypeError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("%w: it holds a %s value, not %s (%v)", ErrTypeMismatch, te.Stored, te.Want, slot.codec.Type())
	case errors.Is(err, valuecodec.ErrRange):
		return fmt.Errorf("%w: the stored number does not fit %v", ErrTypeMismatch, slot.codec.Type())
	}
	// Authenticated, but not a typed encoding: a string or []byte field's
	// ciphertext under the same name, or a marshaler that refused it.
	return fmt.Errorf("%w: it does not hold an encoded %v", ErrTypeMismatch, slot.codec.Type())
}

// assignTyped is phase 3 for the job of a Sealed value.
func (w *walker) assignTyped(j *job) {
	slot := &w.typed[j.typed-1]
	switch {
	case slot.opened:
		slot.dst.setScalar(&w.scalars[j.typed-1])
	case slot.out.IsValid():
		slot.dst.setOpened(slot.out)
	case j.keys == nil:
		// Open of a forgotten subject, with a placeholder: nothing to
		// show, and Get says why.
		slot.dst.setErased()
	default:
		slot.dst.setSealed(j.outStr)
	}
}
