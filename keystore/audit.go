package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/audit"
)

// AuditLog is implemented by stores that keep a tamper-evident audit
// trail: a table of audit.Row, each a batch of events (one AppendEvents of
// the audit writer: one table row for many events, so that the database's
// cost per event is small), linked to the row before by an HMAC (package
// audit). It is a sibling interface of Store, found by type
// assertion; every store of this module implements it.
//
// The store never sees the chain's key: AppendAudit hands the current head
// to a function of the caller's (pii's audit table, which holds the key),
// which returns the rows that continue it. The store reads the head and
// inserts the rows in one transaction that excludes every other
// AppendAudit on the same database, so two instances never fork the chain.
// The table is append-only: the SQL stores refuse UPDATE and DELETE with
// triggers. That stops mistakes, not a database owner, who can drop a
// trigger: what the chain adds is that such a change is found (audit.Verify).
type AuditLog interface {
	// AppendAudit reads the head of the chain (the zero Head when it is
	// empty) and calls extend with it; the rows extend returns must
	// continue the chain (sequence numbers head.Seq+1, +2, ..., the
	// first row's Prev the head's MAC, event numbers from head.Events+1
	// on without gaps), or AppendAudit fails with
	// ErrInvalid and stores nothing. An error of extend is returned as
	// it is, and nothing is stored. extend is called once.
	AppendAudit(ctx context.Context, extend func(head audit.Head) ([]audit.Row, error)) error

	// AuditRows returns up to limit rows with sequence numbers greater
	// than after, in increasing order, as stored (the rows of a tampered
	// table are returned as they are, for Verify to judge).
	AuditRows(ctx context.Context, after uint64, limit int) ([]audit.Row, error)

	// AuditHead returns the last stored row's sequence number, MAC and
	// last event number (the zero Head for an empty table).
	AuditHead(ctx context.Context) (audit.Head, error)
}

// CheckAuditRows reports whether rows continue the chain at head, as
// AppendAudit requires. Stores call it inside their transaction.
func CheckAuditRows(head audit.Head, rows []audit.Row) error {
	prev := head.MAC
	if head.Seq == 0 {
		prev = make([]byte, audit.MACSize)
	}
	events := head.Events
	for i, r := range rows {
		if r.Seq != head.Seq+uint64(i)+1 {
			return fmt.Errorf("%w: audit row %d does not follow the head (%d)", ErrInvalid, r.Seq, head.Seq)
		}
		if !bytes.Equal(r.Prev, prev) || len(r.MAC) != audit.MACSize || len(r.Events) == 0 {
			return fmt.Errorf("%w: audit row %d does not link to the row before", ErrInvalid, r.Seq)
		}
		if r.First != events+1 || r.Last < r.First || r.Last > 1<<63-1 {
			return fmt.Errorf("%w: audit row %d does not number its events on from the head (%d)", ErrInvalid, r.Seq, events)
		}
		prev, events = r.MAC, r.Last
	}
	return nil
}

// MaxAuditRows bounds the limit of one AuditRows call.
const MaxAuditRows = 10_000

// CheckAuditPage validates the limit of AuditRows.
func CheckAuditPage(limit int) error {
	if limit < 1 || limit > MaxAuditRows {
		return fmt.Errorf("%w: audit page limit %d not in 1..%d", ErrInvalid, limit, MaxAuditRows)
	}
	return nil
}

// ErrAuditUnsupported is returned by helpers given a Store that keeps no
// audit trail.
var ErrAuditUnsupported = errors.New("keystore: this store keeps no audit trail")
