package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Readdresser is implemented by stores that can move what they hold under
// one record ID to another in one step. fieldcrypt's pii package uses it to
// re-address every record after its addressing key is rotated (a record ID
// is a keyed hash of the subject, so a leaked addressing key makes the IDs
// guessable; re-addressing moves them to IDs under a new key). Every store
// of this module implements it.
type Readdresser interface {
	// Readdress moves the record and the tombstone of m.From to m.To, in
	// one step, together with its standing legal holds and current consent
	// (on stores that implement Holder and ConsentStore; see MergeConsent),
	// and reports what it did:
	//
	//   - From holds nothing (no record, tombstone, hold or consent):
	//     ErrNotFound, nothing changes.
	//   - From holds only holds or consent: they are moved, and Moved.Rights
	//     is set (m.Record is ignored).
	//   - A hold stands at From or To and a tombstone at either: the merge
	//     would erase a held subject. Readdress fails with a *HoldError and
	//     changes nothing.
	//   - A tombstone stands at From or at To: the subject is erased, and
	//     stays so at To. To keeps its tombstone, or receives From's (with
	//     its ErasedAt and Reason); From's tombstone is removed; every record
	//     at From or To (brought back by a restore, or written by a process
	//     that did not know of the re-addressing) is removed, with a Receipt
	//     under To, as Delete would. m.Record is ignored.
	//   - Otherwise From holds a record. If To holds one too, Readdress fails
	//     with ErrExists. If m.Record is nil, or its Version or Incarnation
	//     differ from From's record, it fails with ErrConflict (read again).
	//     Otherwise the record is stored under To with m.Record's KEKID,
	//     Wrapped and KeyIDs (the keyset re-wrapped for To: a KEK binds
	//     every wrap to its record ID), and From's Incarnation, RetainUntil
	//     and Created; its Version is From's plus one.
	//
	// Receipts, and the hold, request and consent histories, are never
	// moved: they are append-only logs, and keep the ID they were written
	// under.
	Readdress(ctx context.Context, m Move) (Moved, error)
}

// Move is one call of Readdresser.Readdress.
type Move struct {
	From, To string
	// Record is From's record as it was read (Version and Incarnation),
	// with KEKID, Wrapped and KeyIDs replaced by the re-wrapped keyset;
	// nil when From was read without a record (a tombstone).
	Record *Record
}

// Moved reports what Readdress did.
type Moved struct {
	// Record is the record now stored under To, if Readdress moved one.
	Record Record
	Moved  bool
	// Tombstoned: a tombstone now stands at To.
	Tombstoned bool
	// Erased lists the records Readdress removed because a tombstone stood
	// at From or To (each has a Receipt under To).
	Erased []Record
	// ErasedAt and Reason are those of the tombstone standing at To.
	ErasedAt time.Time
	Reason   string
	// Rights: holds or consent state were moved from From to To.
	Rights bool
}

// ErrExists is returned by Readdress when the target ID already holds a
// record.
var ErrExists = errors.New("keystore: target ID already holds a record")

// CheckMove validates m before a store applies it.
func CheckMove(m Move) error {
	if err := ValidateID(m.From); err != nil {
		return err
	}
	if err := ValidateID(m.To); err != nil {
		return err
	}
	if m.From == m.To {
		return fmt.Errorf("%w: readdress to the same ID", ErrInvalid)
	}
	if m.Record != nil {
		r := *m.Record
		r.ID = m.To
		if err := Validate(r); err != nil {
			return err
		}
	}
	return nil
}

// CheckMoveRecord is Readdress's condition for moving a record, for stores
// to apply inside their step: cur is From's record, found whether it exists.
func CheckMoveRecord(m Move, cur Record) error {
	if m.Record == nil {
		return fmt.Errorf("%w: the source holds a record, but none was given to move", ErrConflict)
	}
	if m.Record.Version != cur.Version || m.Record.Incarnation != cur.Incarnation {
		return fmt.Errorf("%w: the source record changed since it was read", ErrConflict)
	}
	return nil
}
