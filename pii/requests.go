package pii

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Erasure requests.
//
// RequestErasure records a data subject's erasure request in the key
// store's append-only request log (keystore.RequestLog) — when it was
// received, by whom, under which ticket, by when it must be done — and then
// runs Forget, recording how it ended: completed (naming the erasure
// Receipt it produced) or refused because of a legal hold. The log is keyed
// by the subject's record ID, never the identifier, and holds no personal
// data as long as tickets and actors are not personal data. ErasureRequests
// lists the requests; LateRequests picks those completed after their
// deadline or still not completed past it.

// DefaultErasureDeadline is the deadline of a request that names none:
// 30 days after it was received (GDPR Art. 12(3): one month).
const DefaultErasureDeadline = 30 * 24 * time.Hour

// Request describes an erasure request as it was received.
type Request struct {
	// Ticket is the request's reference in the operator's ticketing
	// system: 1 to 128 printable ASCII characters, never personal data.
	Ticket string
	// By is who handles it (an operator or a system), as Ticket.
	By string
	// Received is when the request was received (zero: now).
	Received time.Time
	// Deadline is when it must be completed by (zero: Received +
	// DefaultErasureDeadline).
	Deadline time.Time
}

// RequestStatus is the state of an erasure request.
type RequestStatus string

const (
	// RequestOpen: received, not (yet) completed or refused (an
	// interrupted run, or an error).
	RequestOpen RequestStatus = "open"
	// RequestHeld: refused because the subject is under legal hold; it can
	// be completed after the hold is released (RequestErasure again with
	// the same ticket).
	RequestHeld RequestStatus = "held"
	// RequestCompleted: the subject was erased.
	RequestCompleted RequestStatus = "completed"
)

// ErasureRequest is one request, as the request log tells it.
type ErasureRequest struct {
	// Seq identifies the request in the log (the Seq of its "received"
	// entry).
	Seq int64
	// Subject is the subject's record ID (a keyed hash) at the time the
	// request was received, never the identifier.
	Subject  string
	Ticket   string
	By       string
	Received time.Time
	Deadline time.Time
	Status   RequestStatus
	// Completed is when it was completed (RequestCompleted only), and
	// CompletedBy who completed it.
	Completed   time.Time
	CompletedBy string
	// ReceiptSeq names the erasure Receipt it produced (0: the subject had
	// been erased before and nothing was left to erase).
	ReceiptSeq int64
	// HoldReference is the hold that last refused it (if any did).
	HoldReference string
}

// Late reports whether r was completed after its deadline, or is not
// completed and its deadline has passed at now. With within > 0 the
// deadline is r.Received + within instead of r.Deadline.
func (r ErasureRequest) Late(now time.Time, within time.Duration) bool {
	deadline := r.Deadline
	if within > 0 {
		deadline = r.Received.Add(within)
	}
	if r.Status == RequestCompleted {
		return r.Completed.After(deadline)
	}
	return now.After(deadline)
}

// LateRequests returns the requests of rs that are late at now (see
// ErasureRequest.Late), in the order given.
func LateRequests(rs []ErasureRequest, now time.Time, within time.Duration) []ErasureRequest {
	var out []ErasureRequest
	for _, r := range rs {
		if r.Late(now, within) {
			out = append(out, r)
		}
	}
	return out
}

func (p *Protector) requestLog() (keystore.RequestLog, error) {
	return requestLogOf(p.ring.store)
}

func requestLogOf(s keystore.Store) (keystore.RequestLog, error) {
	l, ok := s.(keystore.RequestLog)
	if !ok {
		return nil, &UnsupportedStoreError{Need: "keystore.RequestLog"}
	}
	return l, nil
}

// RequestErasure records an erasure request for subject and carries it
// out: it appends the request to the key store's request log, runs Forget,
// and appends the outcome. It returns the request as recorded and, if the
// subject was erased, the erasure Receipt.
//
// If the subject is under legal hold, the request is recorded as refused
// (RequestHeld), nothing is erased, and the error is a *LegalHoldError.
// Calling RequestErasure again with the same Ticket for the same subject
// (after the hold is released, or after an interrupted or failed run)
// carries on with that request, keeping its receipt time and deadline,
// instead of opening another; a request already completed is returned as
// it is, and Forget is not run again.
func (p *Protector) RequestErasure(ctx context.Context, subject string, r Request) (_ ErasureRequest, _ Receipt, err error) {
	defer p.auditLifecycle(ctx, audit.Event{Op: audit.OpErasureRequest, Actor: r.By}, subject, &err) // audit.go
	log, err := p.requestLog()
	if err != nil {
		return ErasureRequest{}, Receipt{}, err
	}
	if r.Received.IsZero() {
		r.Received = p.now()
	}
	r.Received = r.Received.UTC().Truncate(time.Microsecond)
	if r.Deadline.IsZero() {
		r.Deadline = r.Received.Add(DefaultErasureDeadline)
	}
	received := keystore.RequestEvent{Action: keystore.RequestReceived, ID: "x", At: r.Received, By: r.By, Ticket: r.Ticket, Deadline: r.Deadline}
	if err := keystore.CheckRequest(received); err != nil {
		return ErasureRequest{}, Receipt{}, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	ids, err := p.rightsAddresses(ctx, "request erasure", subject)
	if err != nil {
		return ErasureRequest{}, Receipt{}, err
	}
	all, err := p.ring.addr.Load().ids(subject, true)
	if err != nil {
		return ErasureRequest{}, Receipt{}, err
	}
	mine, err := requestsAt(ctx, log, all)
	if err != nil {
		return ErasureRequest{}, Receipt{}, err
	}
	var req ErasureRequest
	found := false
	for _, q := range mine {
		if q.Ticket == r.Ticket {
			req, found = q, true // the newest with this ticket
		}
	}
	if found && req.Status == RequestCompleted {
		return req, Receipt{}, nil
	}
	if !found {
		received.ID = ids[0]
		e, err := log.AppendRequest(ctx, received)
		if err != nil {
			return ErasureRequest{}, Receipt{}, fmt.Errorf("pii: request erasure: %w", err)
		}
		req = ErasureRequest{Seq: e.Seq, Subject: e.ID, Ticket: e.Ticket, By: e.By, Received: e.At, Deadline: e.Deadline, Status: RequestOpen}
	}
	receipt, ferr := p.Forget(ctx, subject)
	var held *LegalHoldError
	switch {
	case errors.As(ferr, &held):
		e, err := log.AppendRequest(ctx, keystore.RequestEvent{
			Action: keystore.RequestRefused, Request: req.Seq, ID: req.Subject, At: p.now(), By: r.By, Reference: held.Reference,
		})
		if err != nil {
			return req, Receipt{}, errors.Join(ferr, fmt.Errorf("pii: request erasure: record the refusal: %w", err))
		}
		req.Status, req.HoldReference = RequestHeld, e.Reference
		return req, Receipt{}, ferr
	case ferr != nil:
		return req, Receipt{}, ferr // the request stays open
	}
	e, err := log.AppendRequest(ctx, keystore.RequestEvent{
		Action: keystore.RequestCompleted, Request: req.Seq, ID: req.Subject, At: p.now(), By: r.By, ReceiptSeq: receipt.Seq,
	})
	if err != nil {
		// Erased, but the completion is not recorded: the request stays
		// open, and running it again records it.
		return req, receipt, fmt.Errorf("pii: request erasure: the subject was erased, but recording the completion failed (run it again): %w", err)
	}
	req.Status, req.Completed, req.CompletedBy, req.ReceiptSeq = RequestCompleted, e.At, e.By, e.ReceiptSeq
	return req, receipt, nil
}

// ErasureRequests returns subject's erasure requests (under every address
// they ever had), oldest first.
func (p *Protector) ErasureRequests(ctx context.Context, subject string) ([]ErasureRequest, error) {
	log, err := p.requestLog()
	if err != nil {
		return nil, err
	}
	all, err := p.allAddresses(ctx, "erasure requests", subject)
	if err != nil {
		return nil, err
	}
	return requestsAt(ctx, log, all)
}

// AllErasureRequests returns every erasure request in store, oldest first.
// It needs no keys (operator tools use it for the late report); the
// requests name subjects by record ID only.
func AllErasureRequests(ctx context.Context, store keystore.Store) ([]ErasureRequest, error) {
	log, err := requestLogOf(store)
	if err != nil {
		return nil, err
	}
	evs, err := pages(ctx, "", log.RequestEvents, func(e keystore.RequestEvent) int64 { return e.Seq })
	if err != nil {
		return nil, fmt.Errorf("pii: erasure requests: %w", err)
	}
	return foldRequests(evs), nil
}

func requestsAt(ctx context.Context, log keystore.RequestLog, ids []string) ([]ErasureRequest, error) {
	var evs []keystore.RequestEvent
	for _, id := range ids {
		page, err := pages(ctx, id, log.RequestEvents, func(e keystore.RequestEvent) int64 { return e.Seq })
		if err != nil {
			return nil, fmt.Errorf("pii: erasure requests: %w", err)
		}
		evs = append(evs, page...)
	}
	slices.SortFunc(evs, func(a, b keystore.RequestEvent) int { return compareSeq(a.Seq, b.Seq) })
	return foldRequests(evs), nil
}

// foldRequests replays the log (in Seq order) into requests.
func foldRequests(evs []keystore.RequestEvent) []ErasureRequest {
	var out []ErasureRequest
	index := map[int64]int{}
	for _, e := range evs {
		if e.Action == keystore.RequestReceived {
			index[e.Seq] = len(out)
			out = append(out, ErasureRequest{
				Seq: e.Seq, Subject: e.ID, Ticket: e.Ticket, By: e.By, Received: e.At, Deadline: e.Deadline, Status: RequestOpen,
			})
			continue
		}
		i, ok := index[e.Request]
		if !ok {
			continue
		}
		r := &out[i]
		switch e.Action {
		case keystore.RequestCompleted:
			if r.Status != RequestCompleted {
				r.Status, r.Completed, r.CompletedBy, r.ReceiptSeq = RequestCompleted, e.At, e.By, e.ReceiptSeq
			}
		case keystore.RequestRefused:
			r.HoldReference = e.Reference
			if r.Status != RequestCompleted {
				r.Status = RequestHeld
			}
		}
	}
	return out
}
