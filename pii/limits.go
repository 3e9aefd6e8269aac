package pii

import (
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// DefaultMaxValueSize is the longest value, in bytes, that Seal encrypts
// into one encrypt field unless WithMaxValueSize says otherwise. It is
// generous on purpose (a long note or a document is a legitimate field
// value); set a lower limit where values come from untrusted input.
const DefaultMaxValueSize = 64 << 20

// maxValueSizeLimit bounds WithMaxValueSize, so that the derived ciphertext
// lengths cannot overflow.
const maxValueSizeLimit = 1 << 40

// MaxTokenBytes is the longest value or token, in bytes, of a token field:
// 4 bytes (the longest UTF-8 character) for each of the tokenize.MaxLength
// characters FF1 accepts. Longer values are refused with ErrValueTooLarge
// before package tokenize sees them (it is tokenize.MaxInputBytes).
// WithMaxValueSize lowers it if lower.
const MaxTokenBytes = tokenize.MaxInputBytes

// WithMaxValueSize sets the longest value, in bytes, that Seal encrypts into
// one field (default DefaultMaxValueSize) and, from it, the longest sealed
// value that Open decrypts (the ciphertext of such a value). A longer value
// fails with ErrValueTooLarge after a comparison of lengths, before any
// encryption, base64 decoding or key fetch. It applies to token fields too
// when it is below MaxTokenBytes.
func WithMaxValueSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxValueSizeLimit {
			return fmt.Errorf("pii: max value size must be between 1 byte and 1 TiB")
		}
		c.maxValueSize = n
		return nil
	}
}

// limits are the length limits of one Protector, worked out once, when
// one of its walkers is made.
type limits struct {
	value  int // Seal: bytes of an encrypt field's value
	token  int // bytes of a token field's value or token
	text   int // Open: length of the text form of a sealed value
	binary int // Open: length of the binary form of a sealed value
}

func (p *Protector) limits() limits {
	max := p.maxValueSize
	if max == 0 {
		max = DefaultMaxValueSize
	}
	return limits{
		value:  max,
		token:  min(max, MaxTokenBytes),
		text:   envelope.MaxTextLen(max),
		binary: envelope.MaxBinaryLen(max),
	}
}

// The checks below refuse a job before any key is fetched and any value is
// read: a value longer than its field allows and, on Seal, an encrypt
// field whose value is already sealed or a record-bound value without its
// record. Their cost does not depend on the values' lengths.

// sealChecked reports whether job j of Seal passes checkSeal for the
// reasons that cover most values: a plaintext in a string encrypt field
// without bindindex, within the limit, with no record in reach. It lets
// the caller skip the call.
func (w *walker) sealChecked(j *job) bool {
	return j.field.plain && len(j.in) <= w.lim.value &&
		!envelope.IsSealedText(j.in) && j.rec == 0
}

// checkSeal checks one job of Seal.
func (p *Protector) checkSeal(w *walker, j *job) error {
	n := len(j.in)
	if j.isBytes {
		n = len(j.inBytes)
	}
	switch {
	case j.field.token != "":
		if n > w.lim.token {
			return fmt.Errorf("%w: a token field holds at most %d bytes", ErrValueTooLarge, w.lim.token)
		}
	case n > w.lim.value:
		return fmt.Errorf("%w: the limit is %d bytes (WithMaxValueSize)", ErrValueTooLarge, w.lim.value)
	case j.isBytes && envelope.IsSealedBinary(j.inBytes) || !j.isBytes && envelope.IsSealedText(j.in):
		return ErrAlreadySealed
	}
	return w.checkBindingJob(p, j, "seal")
}

// openChecked reports whether job j of Open passes checkOpen for the
// reason that covers most values: a string of an encrypt field, no longer
// than the limit. It lets the caller skip the call.
func (w *walker) openChecked(j *job) bool {
	return j.field.token == "" && !j.isBytes && len(j.in) <= w.lim.text
}

// checkOpen checks the length of one job of Open.
func (w *walker) checkOpen(j *job) error {
	switch {
	case j.field.token != "":
		if len(j.in) > w.lim.token {
			return fmt.Errorf("%w: a token field holds at most %d bytes", ErrValueTooLarge, w.lim.token)
		}
	case j.isBytes:
		if len(j.inBytes) > w.lim.binary {
			return fmt.Errorf("%w: the sealed value of at most %d bytes is at most %d long (WithMaxValueSize)", ErrValueTooLarge, w.lim.value, w.lim.binary)
		}
	case len(j.in) > w.lim.text:
		return fmt.Errorf("%w: the sealed value of at most %d bytes is at most %d long (WithMaxValueSize)", ErrValueTooLarge, w.lim.value, w.lim.text)
	}
	return nil
}
