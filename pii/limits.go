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

// precheck refuses, before any key is fetched and any value is read, every
// job whose value is longer than its field allows, and, on Seal, an encrypt
// field whose value is already sealed. Its cost does not depend on the
// values' lengths.
func (p *Protector) precheck(w *walker, op string) error {
	for i := range w.jobs {
		if err := p.checkJob(&w.jobs[i], op); err != nil {
			return &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err}
		}
	}
	return nil
}

// checkJob is precheck for one job.
func (p *Protector) checkJob(j *job, op string) error {
	max := p.maxValueSize
	if max == 0 {
		max = DefaultMaxValueSize
	}
	n := len(j.in)
	if j.isBytes {
		n = len(j.inBytes)
	}
	switch {
	case j.field.token != "":
		if limit := min(max, MaxTokenBytes); n > limit {
			return fmt.Errorf("%w: a token field holds at most %d bytes", ErrValueTooLarge, limit)
		}
	case op == "seal":
		if n > max {
			return fmt.Errorf("%w: the limit is %d bytes (WithMaxValueSize)", ErrValueTooLarge, max)
		}
		if j.isBytes && envelope.IsSealedBinary(j.inBytes) || !j.isBytes && envelope.IsSealedText(j.in) {
			return ErrAlreadySealed
		}
	default: // open
		limit := envelope.MaxTextLen(max)
		if j.isBytes {
			limit = envelope.MaxBinaryLen(max)
		}
		if n > limit {
			return fmt.Errorf("%w: the sealed value of at most %d bytes is at most %d long (WithMaxValueSize)", ErrValueTooLarge, max, limit)
		}
	}
	return nil
}
