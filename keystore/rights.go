package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The records of data-subject rights: legal holds, erasure requests and
// consent. Each is an optional sibling interface of Store, found by type
// assertion (as Readdresser is), so that a Store written elsewhere keeps
// compiling; every store of this module implements all three.
//
// Like every record of a Store, they are addressed by record ID (a keyed
// hash of the subject), never by a subject identifier, and hold no
// personal data: references, tickets, actors and purposes are short labels
// chosen by the operator (ValidateLabel, ValidatePurpose), which must not
// be names, emails or other personal data of the subject. Histories are
// append-only (the SQL stores refuse UPDATE and DELETE with triggers) and,
// like receipts, keep the ID they were written under. Current holds and
// consent follow their subject when Readdresser moves it.

// Holder is implemented by stores that keep legal holds. A held ID cannot
// be erased: while a hold stands, Delete and DeleteExpired fail with a
// *HoldError (errors.Is(err, ErrHeld)) and change nothing, and Readdress
// refuses to merge it into (or with) a tombstone. The check is made in the
// deleting step itself, so a hold placed concurrently with an erasure
// resolves in one order: either the hold was placed first and the erasure
// is refused, or the erasure was first and the hold is refused
// (ErrTombstoned).
//
// An ID may carry several holds, one per reference (two proceedings); it
// is held while any stands. A hold may be placed on an ID that has no
// record yet (a hold can precede the data). Every placement and release is
// appended to the hold history.
type Holder interface {
	// Hold places a hold with h.Reference on id. It fails with
	// ErrTombstoned if id was erased. Placing a hold that stands already
	// (same reference) changes nothing and reports placed == false.
	Hold(ctx context.Context, id string, h HoldInfo) (placed bool, err error)

	// Release lifts the hold with h.Reference from id (h.By and h.At say
	// who and when, for the history). It fails with ErrNotFound if no such
	// hold stands.
	Release(ctx context.Context, id string, h HoldInfo) error

	// Holds returns the holds standing on id, oldest first (none: an empty
	// slice, no error).
	Holds(ctx context.Context, id string) ([]Hold, error)

	// HeldIDs returns up to limit IDs with at least one hold, greater than
	// after, in increasing order.
	HeldIDs(ctx context.Context, after string, limit int) ([]string, error)

	// HoldHistory returns hold events as q selects.
	HoldHistory(ctx context.Context, q HistoryQuery) ([]HoldEvent, error)
}

// HoldInfo describes the placing or lifting of a hold.
type HoldInfo struct {
	// Reference names the hold (a case or ticket number): ValidateLabel.
	Reference string
	// By is who placed or lifted it: ValidateLabel.
	By string
	// At is when; zero means now.
	At time.Time
}

// Hold is a hold standing on an ID.
type Hold struct {
	ID        string
	Reference string
	By        string
	At        time.Time
}

// Hold actions, in HoldEvent.Action.
const (
	HoldPlaced   = "placed"
	HoldReleased = "released"
)

// HoldEvent is one entry of the append-only hold history.
type HoldEvent struct {
	Seq       int64 // assigned by the store, increasing
	ID        string
	Action    string // HoldPlaced or HoldReleased
	Reference string
	By        string
	At        time.Time
}

// HistoryQuery selects history entries: those after sequence number After,
// of the record ID if ID is set, at most Limit of them, in sequence order.
type HistoryQuery struct {
	ID    string
	After int64
	Limit int
}

// HoldError is the error of an erasure refused because of a legal hold. It
// names the ID and the oldest standing hold's reference; errors.Is(err,
// ErrHeld) holds.
type HoldError struct {
	ID        string
	Reference string
}

func (e *HoldError) Error() string {
	return fmt.Sprintf("keystore: %s is under legal hold (reference %q)", e.ID, e.Reference)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HoldError) Is(target error) bool { return target == ErrHeld }

// ErrHeld is matched (errors.Is) by every *HoldError.
var ErrHeld = errors.New("keystore: under legal hold")

// RequestLog is implemented by stores that keep the append-only log of
// erasure requests: when each was received, by whom, under which ticket and
// with which deadline, and how it ended (completed, with the receipt it
// produced, or refused because of a legal hold). A request is identified
// by the Seq of its RequestReceived event; later events name it in
// Request.
type RequestLog interface {
	// AppendRequest appends e, and returns it with Seq (and, for a
	// RequestReceived event, Request) set by the store. A RequestCompleted
	// or RequestRefused event must name a RequestReceived event of the
	// same ID (ErrNotFound otherwise).
	AppendRequest(ctx context.Context, e RequestEvent) (RequestEvent, error)

	// RequestEvents returns request events as q selects.
	RequestEvents(ctx context.Context, q HistoryQuery) ([]RequestEvent, error)
}

// Request actions, in RequestEvent.Action.
const (
	RequestReceived  = "received"
	RequestCompleted = "completed"
	RequestRefused   = "refused"
)

// RequestEvent is one entry of the erasure request log.
type RequestEvent struct {
	Seq int64 // assigned by the store, increasing
	// Request is the Seq of the RequestReceived event this one concerns
	// (its own Seq for a RequestReceived event).
	Request int64
	ID      string
	Action  string // RequestReceived, RequestCompleted or RequestRefused
	At      time.Time
	By      string // ValidateLabel
	// Ticket is the request's reference (RequestReceived: ValidateLabel;
	// empty on the other events).
	Ticket string
	// Deadline is when the request must be completed by (RequestReceived
	// only, after At).
	Deadline time.Time
	// ReceiptSeq is the Seq of the erasure Receipt a RequestCompleted
	// event produced (0 if the subject was erased before and nothing was
	// left to erase).
	ReceiptSeq int64
	// Reference is the hold that refused a RequestRefused event.
	Reference string
}

// ConsentStore is implemented by stores that keep consent: per ID and
// named purpose, whether it is granted now, and an append-only history of
// every grant and withdrawal. Consent may be recorded for an ID without a
// record (consent can precede data), but not for an erased one
// (ErrTombstoned). Stores that implement ErasureWatcher announce every
// change (ErasureEvents.ConsentChanged).
type ConsentStore interface {
	// SetConsent records c: it sets the current state of (c.ID,
	// c.Purpose) and appends the change to the history, in one step. A
	// change older than the current state (c.At before the state's At)
	// is recorded in the history but does not change the state.
	SetConsent(ctx context.Context, c ConsentChange) (ConsentEvent, error)

	// Consents returns the current consent state of id, one entry per
	// purpose ever granted or withdrawn, in purpose order.
	Consents(ctx context.Context, id string) ([]Consent, error)

	// ConsentIDs returns up to limit IDs with a consent state, greater
	// than after, in increasing order.
	ConsentIDs(ctx context.Context, after string, limit int) ([]string, error)

	// ConsentHistory returns consent events as q selects.
	ConsentHistory(ctx context.Context, q HistoryQuery) ([]ConsentEvent, error)
}

// ConsentChange is one grant or withdrawal.
type ConsentChange struct {
	ID      string
	Purpose string // ValidatePurpose
	Grant   bool   // true: granted; false: withdrawn
	Actor   string // ValidateLabel
	At      time.Time
}

// Consent is the current state of one purpose for one ID.
type Consent struct {
	ID      string
	Purpose string
	Granted bool
	Actor   string
	At      time.Time
}

// Consent actions, in ConsentEvent.Action.
const (
	ConsentGranted   = "grant"
	ConsentWithdrawn = "withdraw"
)

// ConsentEvent is one entry of the append-only consent history.
type ConsentEvent struct {
	Seq     int64 // assigned by the store, increasing
	ID      string
	Purpose string
	Action  string // ConsentGranted or ConsentWithdrawn
	Actor   string
	At      time.Time
}

// MaxLabelLength bounds references, tickets and actors.
const MaxLabelLength = 128

// MaxPurposeLength bounds purpose names.
const MaxPurposeLength = 64

// ValidateLabel reports whether s can be stored as a hold reference, a
// ticket or an actor: 1 to MaxLabelLength bytes of printable ASCII
// (spaces allowed, not at either end).
func ValidateLabel(what, s string) error {
	if s == "" || len(s) > MaxLabelLength {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", ErrInvalid, what, MaxLabelLength)
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("%w: %s must not start or end with a space", ErrInvalid, what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("%w: %s must be printable ASCII", ErrInvalid, what)
		}
	}
	return nil
}

// ValidatePurpose reports whether s is a valid purpose name: 1 to
// MaxPurposeLength bytes, a lowercase ASCII letter and then lowercase
// letters, digits, '_' or '-'.
func ValidatePurpose(s string) error {
	if s == "" || len(s) > MaxPurposeLength {
		return fmt.Errorf("%w: purpose must be 1 to %d bytes", ErrInvalid, MaxPurposeLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("%w: purpose must be a lowercase letter, then lowercase letters, digits, '_' or '-'", ErrInvalid)
		}
	}
	return nil
}

// CheckHold validates a hold before a store applies it.
func CheckHold(id string, h HoldInfo) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if err := ValidateLabel("hold reference", h.Reference); err != nil {
		return err
	}
	return ValidateLabel("hold actor", h.By)
}

// CheckRequest validates a request event before a store appends it.
func CheckRequest(e RequestEvent) error {
	if err := ValidateID(e.ID); err != nil {
		return err
	}
	if err := ValidateLabel("request actor", e.By); err != nil {
		return err
	}
	switch e.Action {
	case RequestReceived:
		if err := ValidateLabel("ticket", e.Ticket); err != nil {
			return err
		}
		if e.Deadline.IsZero() || (!e.At.IsZero() && !e.Deadline.After(e.At)) {
			return fmt.Errorf("%w: a request's deadline must be after its receipt", ErrInvalid)
		}
	case RequestCompleted, RequestRefused:
		if e.Request <= 0 {
			return fmt.Errorf("%w: a %s event must name its request", ErrInvalid, e.Action)
		}
		if e.Action == RequestRefused {
			if err := ValidateLabel("hold reference", e.Reference); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: unknown request action", ErrInvalid)
	}
	return nil
}

// CheckConsent validates a consent change before a store applies it.
func CheckConsent(c ConsentChange) error {
	if err := ValidateID(c.ID); err != nil {
		return err
	}
	if err := ValidatePurpose(c.Purpose); err != nil {
		return err
	}
	return ValidateLabel("consent actor", c.Actor)
}

// CheckHistoryLimit validates a history query's limit.
func CheckHistoryLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("%w: limit must be positive", ErrInvalid)
	}
	return nil
}

// ConsentAction is the history action of a grant (true) or withdrawal.
func ConsentAction(grant bool) string {
	if grant {
		return ConsentGranted
	}
	return ConsentWithdrawn
}

// MergeConsent is Readdress's rule for the consent of a moved ID: for each
// purpose, the later of from's and to's states (to's on a tie). Stores
// apply it inside their step.
func MergeConsent(from, to Consent) Consent {
	if from.At.After(to.At) {
		return from
	}
	return to
}
