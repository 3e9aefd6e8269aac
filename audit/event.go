// Package audit records who did what to personal data, without recording
// the personal data: every Seal, Open, Forget, Readmit, key rotation, expiry
// and consent change can produce an [Event], handed to an [Auditor].
//
// An Event names the Go type (or its scope), the fields involved, the
// purpose and actor the caller stated, a keyed reference to the data subject
// (the key store's record ID, never the identifier) and the outcome. It
// never holds plaintext, ciphertext, keys or subject identifiers: the type
// has no field that could.
//
// Sinks:
//
//   - [NewSlogAuditor] writes each event as one structured log record.
//   - [Chain] makes a sequence of events tamper-evident: each row holds a
//     batch of events, numbered on from the row before, and carries an HMAC
//     over its sequence number, its event numbers, the previous row's MAC
//     and the events, so [Verify] finds an edited, deleted, inserted or
//     reordered row, or event inside a row, in a stored audit trail, and
//     names the row and its event numbers. Cutting rows off the end is only
//     visible against a [Head] kept elsewhere (export one periodically).
//   - [Writer] batches events for a slow sink (a database table) on a
//     goroutine (one row per batch in fieldcrypt's audit table, so that the
//     database's cost per event stays small), with an explicit policy for
//     when the sink cannot keep up
//     ([Block] or [FailClosed]). Events are never dropped silently: a full
//     buffer or a failing sink is an error returned to the caller, whose
//     operation then fails.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Op names what happened.
type Op string

// The operations fieldcrypt audits.
const (
	OpSeal            Op = "seal"
	OpOpen            Op = "open"
	OpForget          Op = "forget"
	OpReadmit         Op = "readmit"
	OpRotate          Op = "rotate"
	OpExpire          Op = "expire"
	OpConsentGrant    Op = "consent.grant"
	OpConsentWithdraw Op = "consent.withdraw"
	OpHold            Op = "hold"
	OpRelease         Op = "release"
	// OpErasureRequest is a recorded erasure request (the Forget it runs
	// is an OpForget event of its own).
	OpErasureRequest Op = "erasure.request"
)

// The outcomes an Event reports: "ok", or the class of the error.
const (
	OutcomeOK             = "ok"
	OutcomeForgotten      = "forgotten"
	OutcomeAuthentication = "authentication"
	OutcomeNoConsent      = "no-consent"
	OutcomeHeld           = "held"
	OutcomeUnavailable    = "unavailable"
	OutcomeInvalid        = "invalid"
	OutcomeError          = "error"
)

// Event is one audited action. Every field is metadata: names, counts,
// keyed references and error classes.
type Event struct {
	Time time.Time `json:"time"`
	Op   Op        `json:"op"`
	// Type is the scope of the Go type acted on (its pii scope name).
	Type string `json:"type,omitempty"`
	// Subject is the keyed reference to the data subject (the key store's
	// record ID), never the subject identifier.
	Subject string `json:"subject,omitempty"`
	// Subjects lists the keyed references of every subject a call
	// covered, when there was more than one (bulk calls, nested models
	// with subjects of their own), sorted.
	Subjects []string `json:"subjects,omitempty"`
	// Records is the number of records a bulk call covered, and Failed
	// how many of them failed on their own (OpenEach).
	Records int `json:"records,omitempty"`
	Failed  int `json:"failed,omitempty"`
	// Detail names the variant of the operation: which key a rotation
	// rotated ("subject", "rotate index key", ...), "sweep" for an expiry.
	// A fixed label, never data.
	Detail  string `json:"detail,omitempty"`
	Actor   string `json:"actor,omitempty"`
	Purpose string `json:"purpose,omitempty"`
	// Sealed lists the field paths (Type.Field, Type.Nested.Field; no
	// indexes or map keys) a Seal encrypted or tokenized.
	Sealed []string `json:"sealed,omitempty"`
	// Opened, Masked and Refused list field paths, for Open.
	Opened  []string `json:"opened,omitempty"`
	Masked  []string `json:"masked,omitempty"`
	Refused []string `json:"refused,omitempty"`
	// Outcome is "ok", or the class of the error: "forgotten",
	// "authentication", "no-consent", "held", "unavailable", "invalid",
	// "error" (the Outcome constants).
	Outcome string `json:"outcome"`
}

// Auditor receives events. Audit is called synchronously by the operation
// being audited; an error fails that operation (fail closed), so an
// Auditor that must not slow callers down hands events to a [Writer].
// The slices of an event (field lists, subjects) may be shared with other
// events: an Auditor may keep them, or append to them, but must not modify
// their elements.
type Auditor interface {
	Audit(ctx context.Context, e Event) error
}

// AuditorFunc adapts a function to the Auditor interface.
type AuditorFunc func(ctx context.Context, e Event) error

// Audit calls f.
func (f AuditorFunc) Audit(ctx context.Context, e Event) error { return f(ctx, e) }

// ErrInvalidEvent is returned for an event without an operation or outcome.
var ErrInvalidEvent = errors.New("audit: invalid event")

// Validate checks that e names an operation and an outcome.
func (e Event) Validate() error {
	switch {
	case e.Op == "":
		return fmt.Errorf("%w: no operation", ErrInvalidEvent)
	case e.Outcome == "":
		return fmt.Errorf("%w: no outcome", ErrInvalidEvent)
	case e.Time.IsZero():
		return fmt.Errorf("%w: no time", ErrInvalidEvent)
	}
	return nil
}

// MarshalCanonical returns the event's stored form: JSON with the fields
// in a fixed order and the time in UTC with nanoseconds. A chain's MAC
// covers these bytes exactly as stored, so verification never depends on
// re-encoding.
func (e Event) MarshalCanonical() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	return appendCanonical(make([]byte, 0, 256), &e)
}

// ParseEvent parses a stored event.
func ParseEvent(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("%w: stored event is not valid JSON", ErrInvalidEvent)
	}
	return e, e.Validate()
}
