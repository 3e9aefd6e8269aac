// Package keystore defines where fieldcrypt keeps wrapped keys: the Store
// interface, its records, tombstones and errors.
//
// A Store holds opaque bytes. It never sees a plaintext key (every key is
// wrapped by a key-encryption key before it reaches the store) and never sees
// a subject identifier in the clear: records are addressed by an ID that the
// caller derives (fieldcrypt's pii package uses a keyed hash of the subject).
//
// Implementations: [github.com/fieldcrypt/fieldcrypt/keystore/memory] (tests),
// [github.com/fieldcrypt/fieldcrypt/keystore/sqlite] (the embedded default) and
// [github.com/fieldcrypt/fieldcrypt/keystore/postgres] (shared by many
// processes, which it tells of every erasure at once).
// Every implementation passes the conformance suite in
// [github.com/fieldcrypt/fieldcrypt/keystore/storetest], and implements
// Readdresser (moving a record and its tombstone to a new ID in one step,
// for the rotation of the addressing key), and the records of data-subject
// rights: Holder (legal holds, which Delete and DeleteExpired respect in
// the deleting step), RequestLog (erasure requests) and ConsentStore
// (consent, with its history), TokenVault (vaulted tokens, removed with
// their owner's keys in the erasing step), SweepLocker (one retention
// sweep at a time), and BatchCreator / BatchGetter (many creations or
// reads in one step). These are optional sibling interfaces,
// found by type assertion, so that other Store implementations keep
// compiling.
package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Record is one wrapped keyset.
type Record struct {
	// ID addresses the record. At most MaxIDLength bytes, printable ASCII.
	ID string
	// KEKID names the key-encryption key that wrapped Wrapped.
	KEKID string
	// Wrapped is the keyset, encrypted by the KEK.
	Wrapped []byte
	// KeyIDs lists the (non-secret) ids of the keys inside the keyset, so
	// that an erasure receipt can name the keys it destroyed without
	// unwrapping them.
	KeyIDs []uint32
	// RetainUntil is when the record's keys must be destroyed by
	// retention (see ScanExpired); zero means no limit.
	RetainUntil time.Time
	// Version is set by the store: 1 on creation, incremented by each Update.
	Version int64
	// Incarnation is set by the store on Create: a random value that tells
	// one life of an ID from the next (erase, readmit, create again), where
	// Version starts over at 1. Update never changes it, and an Update must
	// carry the Incarnation and Version it read, so a writer that read a
	// record before an erasure can never overwrite the record created after
	// a Readmit.
	Incarnation string
	// Created and Updated are set by the store.
	Created time.Time
	Updated time.Time
}

// Tombstone marks an ID whose keys were destroyed. While it stands, Create
// for that ID fails with ErrTombstoned: a key for an erased subject cannot
// quietly come back.
type Tombstone struct {
	ID       string
	ErasedAt time.Time
	// Reason is a short word such as "request" or "retention"; never PII.
	Reason string
}

// Receipt is the proof of one erasure, kept in an append-only log: it
// names the destroyed keys by their (non-secret) ids, never the subject.
// Receipts survive Readmit.
type Receipt struct {
	Seq      int64 // assigned by the store, increasing
	ID       string
	KEKID    string   // the KEK that had wrapped the destroyed keys ("" if none existed)
	KeyIDs   []uint32 // the destroyed keys (none if the ID had no keys)
	ErasedAt time.Time
	Reason   string
	// Tokens counts the vaulted token mappings (TokenVault) the erasure
	// removed with the keys.
	Tokens int64
}

// ReceiptQuery selects receipts: those after sequence number After, of the
// record ID if ID is set, at most Limit of them, in sequence order.
type ReceiptQuery struct {
	ID    string
	After int64
	Limit int
}

// MaxIDLength bounds record IDs.
const MaxIDLength = 255

// Store keeps wrapped keysets. Implementations are safe for concurrent use,
// and every method is atomic: a concurrent Create and Delete of one ID
// resolve to one order.
type Store interface {
	// Get returns the record with the given ID. It fails with ErrNotFound
	// if there is none, and with ErrTombstoned if the ID was deleted.
	Get(ctx context.Context, id string) (Record, error)

	// Create stores rec if no record with its ID exists, and returns the
	// record now stored together with whether this call created it. When
	// another caller created it first, the existing record is returned with
	// created == false: the second creator loses and uses the winner's
	// keys. Create fails with ErrTombstoned if the ID was deleted.
	Create(ctx context.Context, rec Record) (stored Record, created bool, err error)

	// Update replaces the record with rec.ID if its current Version and
	// Incarnation equal rec's, and returns the new record (Version
	// incremented, Incarnation kept). It fails with ErrConflict if either
	// differs, ErrNotFound if there is no record and ErrTombstoned if the ID
	// was deleted.
	Update(ctx context.Context, rec Record) (Record, error)

	// Delete removes the record with t.ID, if any, and writes t, in one
	// step. The tombstone is written even when there is no record, so that a
	// key can never be created later. If the ID already has a tombstone,
	// that first tombstone is kept, and a record found beside it (brought
	// back by restoring a backup) is removed all the same. Whenever Delete
	// writes a tombstone or removes a record, it appends a Receipt.
	//
	// A store that implements Holder refuses, changing nothing, to erase
	// an ID under legal hold: Delete then fails with a *HoldError.
	Delete(ctx context.Context, t Tombstone) (Deletion, error)

	// DeleteExpired erases t.ID as Delete does, but only if its record
	// exists and its RetainUntil is set and not after now, checked in the
	// same step: a retention extended or lifted after a ScanExpired is
	// respected. Otherwise it changes nothing and fails with ErrConflict
	// (the record is not expired), ErrNotFound (no record) or ErrTombstoned
	// (already erased), or, on a store that implements Holder, with a
	// *HoldError (the ID is under legal hold).
	DeleteExpired(ctx context.Context, t Tombstone, now time.Time) (Deletion, error)

	// Receipts returns erasure receipts as q selects.
	Receipts(ctx context.Context, q ReceiptQuery) ([]Receipt, error)

	// Tombstones returns up to limit tombstones with IDs greater than
	// after, in increasing ID order (for export and reapplication).
	Tombstones(ctx context.Context, after string, limit int) ([]Tombstone, error)

	// ScanExpired returns up to limit records whose RetainUntil is set and
	// not after now, soonest first.
	ScanExpired(ctx context.Context, now time.Time, limit int) ([]Record, error)

	// GetTombstone returns the tombstone for id, or ErrNotFound.
	GetTombstone(ctx context.Context, id string) (Tombstone, error)

	// Readmit removes the tombstone for id, so that a key may be created for
	// it again. It is the only way back from an erasure, and it does not
	// restore anything: the old keys are gone. A record found beside the
	// tombstone (brought back by restoring a backup) holds erased keys:
	// Readmit removes it in the same step, with a Receipt, as Delete would.
	// Readmitting an ID without a tombstone is not an error.
	Readmit(ctx context.Context, id string) error

	// Scan returns up to limit records with IDs greater than after, in
	// increasing ID order. Pass the last ID returned as the next after; an
	// empty result means the scan is complete.
	Scan(ctx context.Context, after string, limit int) ([]Record, error)
}

// Deletion reports what Delete did.
type Deletion struct {
	// Removed is the record Delete removed, if Found.
	Removed Record
	Found   bool
	// AlreadyTombstoned reports that the ID had a tombstone before this
	// call: a repeated erasure, or a record brought back by a restore and
	// erased again.
	AlreadyTombstoned bool
	// ReceiptSeq is the Seq of the Receipt this call appended (0 if it
	// appended none: the ID was erased before and nothing came back).
	ReceiptSeq int64
	// Tokens counts the vaulted token mappings owned by the ID (on a store
	// that implements TokenVault) that Delete removed in the same step.
	Tokens int64
}

// CheckExpired is DeleteExpired's condition, for stores to apply inside
// their deleting step: nil if the record exists, has no tombstone and its
// RetainUntil is set and not after now.
func CheckExpired(rec Record, found, tombstoned bool, now time.Time) error {
	switch {
	case tombstoned:
		return ErrTombstoned
	case !found:
		return ErrNotFound
	case rec.RetainUntil.IsZero() || rec.RetainUntil.After(now):
		return fmt.Errorf("%w: the record's retention was changed", ErrConflict)
	}
	return nil
}

// ErasureWatcher is implemented by stores that can tell a process at once
// when any process erases a record (keystore/postgres, with LISTEN/NOTIFY).
// A Protector on such a store evicts erased keys from its cache within
// moments instead of when their cache entries expire.
type ErasureWatcher interface {
	// WatchErasures reports erasures and readmissions made anywhere to the
	// callbacks of ev, until ctx ends, and then returns ctx's error. It
	// reconnects by itself after a failure. The callbacks are called from
	// one goroutine, one at a time; nil callbacks are skipped.
	WatchErasures(ctx context.Context, ev ErasureEvents) error
}

// ErasureEvents are the callbacks of ErasureWatcher.WatchErasures.
//
// Announcements are hints, not proof: whoever can connect to the database
// may be able to send one (PostgreSQL has no privileges on NOTIFY
// channels). Dropping a cached key on a hint is always safe; refusing a
// subject, or accepting one again, must first be confirmed against the
// store (GetTombstone). IDs that fail ValidateID are never delivered.
type ErasureEvents struct {
	// Erased is called with the ID of a record erased anywhere.
	Erased func(id string)
	// Readmitted is called with an ID whose tombstone was lifted anywhere.
	Readmitted func(id string)
	// Listening is called after every (re)connection, once announcements
	// are being received: any made before were missed, so the caller must
	// drop every cached key.
	Listening func()
	// Lost is called at once when the watcher stops receiving
	// announcements (its connection failed). Until Listening is called
	// again, erasures elsewhere go unannounced: the caller must drop every
	// cached key and stop caching (or cap how long it caches).
	Lost func(err error)
	// ConsentChanged is called with an ID whose consent was granted or
	// withdrawn anywhere (ConsentStore.SetConsent). A hint, like the
	// others: drop what is cached of the ID's consent and read it again.
	ConsentChanged func(id string)
}

// Errors returned by stores. Match them with errors.Is.
var (
	ErrNotFound   = errors.New("keystore: not found")
	ErrTombstoned = errors.New("keystore: tombstoned")
	ErrConflict   = errors.New("keystore: version conflict")
	ErrInvalid    = errors.New("keystore: invalid record")
	// ErrNoStore is returned by an Open that was asked to open an existing
	// store only (sqlite.MustExist, postgres.MustExist) when there is none.
	ErrNoStore = errors.New("keystore: no such store")
)

// Validate reports whether rec can be stored: an ID of printable ASCII of
// at most MaxIDLength bytes, a KEK ID and a wrapped key.
func Validate(rec Record) error {
	if err := ValidateID(rec.ID); err != nil {
		return err
	}
	if rec.KEKID == "" {
		return fmt.Errorf("%w: empty KEK ID", ErrInvalid)
	}
	if len(rec.Wrapped) == 0 {
		return fmt.Errorf("%w: empty wrapped key", ErrInvalid)
	}
	return nil
}

// ValidateID reports whether id is a valid record ID.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLength {
		return fmt.Errorf("%w: ID must be 1 to %d bytes", ErrInvalid, MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return fmt.Errorf("%w: ID must be printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

// Clone returns a deep copy of rec, so that a store never shares slices with
// its callers.
func (rec Record) Clone() Record {
	rec.Wrapped = append([]byte(nil), rec.Wrapped...)
	rec.KeyIDs = append([]uint32(nil), rec.KeyIDs...)
	return rec
}

// SweepLocker is implemented by stores that let one process at a time run
// the retention sweep (pii.WithRetentionSweep), so that instances sharing
// the store do not all scan and erase the same records. The lock saves
// work; it is not what makes sweeps safe: each record is erased by
// DeleteExpired in a step of its own, which re-checks the deadline and the
// legal holds, so overlapping sweeps erase every record once.
//
// keystore/postgres takes a session-level advisory lock on a connection
// held for the sweep: across every process sharing the database, and
// released by the server if the process dies. keystore/sqlite and
// keystore/memory lock within the process only (every Store of one SQLite
// file in the process shares the lock); sweeps in several processes on one
// SQLite file may overlap, safely.
type SweepLocker interface {
	// TryLockSweep takes the sweep lock if no one holds it, without
	// waiting: ok reports whether it did. unlock (non-nil when ok)
	// releases it; call it once.
	TryLockSweep(ctx context.Context) (unlock func(), ok bool, err error)
}

// CreateResult is the outcome of one record of CreateMany.
type CreateResult struct {
	// Stored is the record now stored under the ID (zero if Err is set).
	Stored Record
	// Created reports whether this call created it; false when another
	// creator got there first (Stored is then the winner's record).
	Created bool
	// Err is ErrTombstoned if the ID was deleted; nil otherwise.
	Err error
}

// BatchCreator is implemented by stores that create many records in one
// step (one transaction, one durable commit) instead of one per record.
// It is an optional sibling of Store, found by type assertion; use the
// function CreateMany, which falls back to a loop of Create.
type BatchCreator interface {
	// CreateMany does what Create does for each of recs, in one atomic
	// step, and returns one result per record, in order. A tombstoned ID
	// gets a result with Err ErrTombstoned and does not stop the others;
	// a record whose ID another caller (or an earlier record of recs)
	// created first gets the existing record with Created false. If any
	// record is invalid (Validate), or the step fails, CreateMany fails as
	// a whole and creates nothing.
	CreateMany(ctx context.Context, recs []Record) ([]CreateResult, error)
}

// CreateMany creates recs in s, in one step if s implements BatchCreator
// and otherwise with one Create per record (then a failure part way leaves
// the records before it created; each of them is a complete Create).
func CreateMany(ctx context.Context, s Store, recs []Record) ([]CreateResult, error) {
	if b, ok := s.(BatchCreator); ok {
		return b.CreateMany(ctx, recs)
	}
	for _, rec := range recs {
		if err := Validate(rec); err != nil {
			return nil, err
		}
	}
	out := make([]CreateResult, len(recs))
	for i, rec := range recs {
		stored, created, err := s.Create(ctx, rec)
		if errors.Is(err, ErrTombstoned) {
			out[i] = CreateResult{Err: ErrTombstoned}
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = CreateResult{Stored: stored, Created: created}
	}
	return out, nil
}

// GetResult is the outcome of one ID of GetMany.
type GetResult struct {
	Record Record
	// Err is ErrNotFound or ErrTombstoned, as Get would return for the ID.
	Err error
}

// BatchGetter is implemented by stores that read many records in one round
// trip. It is an optional sibling of Store, found by type assertion; use
// the function GetMany, which falls back to a loop of Get.
type BatchGetter interface {
	// GetMany returns one result per ID of ids, in order, each as Get
	// would (the tombstone check and the read of one ID agree). Invalid
	// IDs are reported as ErrNotFound, as Get does. It fails as a whole
	// only if the read fails.
	GetMany(ctx context.Context, ids []string) ([]GetResult, error)
}

// GetMany reads ids from s, in one step if s implements BatchGetter and
// otherwise with one Get per ID.
func GetMany(ctx context.Context, s Store, ids []string) ([]GetResult, error) {
	if b, ok := s.(BatchGetter); ok {
		return b.GetMany(ctx, ids)
	}
	out := make([]GetResult, len(ids))
	for i, id := range ids {
		rec, err := s.Get(ctx, id)
		switch {
		case err == nil:
			out[i].Record = rec
		case errors.Is(err, ErrNotFound):
			out[i].Err = ErrNotFound
		case errors.Is(err, ErrTombstoned):
			out[i].Err = ErrTombstoned
		default:
			return nil, err
		}
	}
	return out, nil
}
