package pii

import (
	"context"
	"fmt"
	"reflect"

	"github.com/fieldcrypt/fieldcrypt/mask"
)

// Decision is what Open does with one field for one caller: leave it
// sealed, show it masked, or open it. The zero Decision is Refused.
type Decision uint8

// The decisions, from the most restrictive.
const (
	// Refused leaves the field sealed, as it was.
	Refused Decision = iota
	// Masked shows the field's mask (its tag's mask=); on a field without
	// one it is Refused.
	Masked
	// Opened decrypts the field.
	Opened
)

func (d Decision) String() string {
	switch d {
	case Refused:
		return "refused"
	case Masked:
		return "masked"
	case Opened:
		return "opened"
	}
	return fmt.Sprintf("Decision(%d)", uint8(d))
}

// FieldInfo describes a field to a Policy.
type FieldInfo struct {
	// Type is the struct type that declares the field, and Field its name
	// and the field's, such as "Customer.Card" (for a field of a nested
	// Address, "Address.Street", wherever the Address sits).
	Type  reflect.Type
	Field string
	// Name is the field's stable name (name=, or the Go field name).
	Name string
	// Purposes are the tag's purpose= (nil: every purpose), and Mask its
	// mask= ("": none).
	Purposes []string
	Mask     mask.Kind
	// Tag is what the tags alone decide for the caller's purpose.
	Tag Decision
}

// Policy decides, for the actor and purpose a caller stated (WithAccess)
// and one field, what Open does with the field. It is called once per
// field of each Open, OpenAll, OpenEach or Matches call (not once per
// value), from the calling goroutine, and must not block: decide from the
// arguments and what the application holds in memory.
//
// The tags are the ceiling: a Policy can narrow what they allow, never
// widen it. The field gets the more restrictive of f.Tag and the Policy's
// Decision, and Masked on a field without mask= is Refused. A Policy that
// panics fails the call with ErrPolicy and opens nothing; a Decision
// outside the three constants is Refused.
type Policy func(ctx context.Context, a Access, f FieldInfo) Decision

// WithPolicy makes every Open of this Protector ask policy about each
// field (see Policy). Without it, the tags alone decide.
func WithPolicy(policy Policy) Option {
	return func(c *config) error {
		if policy == nil {
			return fmt.Errorf("%w: nil Policy", ErrInvalidArgument)
		}
		c.policy = policy
		return nil
	}
}

// combine is the Decision of a field whose tags decide tag and whose
// policy decides pol.
func combine(tag, pol Decision, acl *fieldACL) Decision {
	if pol > Opened {
		pol = Refused
	}
	d := min(tag, pol)
	if d == Masked && acl.mask == "" {
		d = Refused
	}
	return d
}

// callPolicy asks policy about one field. A panic is an error, never a
// Decision.
func callPolicy(ctx context.Context, policy Policy, a Access, f FieldInfo) (d Decision, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = Refused, fmt.Errorf("%w: the policy panicked deciding on %s", ErrPolicy, f.Field)
		}
	}()
	return policy(ctx, a, f), nil
}
