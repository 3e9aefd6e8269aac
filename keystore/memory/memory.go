// Package memory is a keystore.Store held in process memory, for tests and
// examples. Everything in it is lost when the process exits.
package memory

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Store is an in-memory keystore.Store. It is safe for concurrent use.
type Store struct {
	mu         sync.Mutex
	records    map[string]keystore.Record
	tombstones map[string]keystore.Tombstone
	receipts   []keystore.Receipt
	now        func() time.Time
	sweepMu    sync.Mutex // TryLockSweep (sweep.go)

	// Rights (rights.go).
	holds          map[string]map[string]keystore.Hold // ID, reference
	holdHistory    []keystore.HoldEvent
	requests       []keystore.RequestEvent
	consent        map[string]map[string]keystore.Consent // ID, purpose
	consentHistory []keystore.ConsentEvent

	auditRows []audit.Row // audit.go

	tokens tokens // vaulted tokens (tokens.go)
}

var (
	_ keystore.Store        = (*Store)(nil)
	_ keystore.BatchCreator = (*Store)(nil)
	_ keystore.BatchGetter  = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		records:    make(map[string]keystore.Record),
		tombstones: make(map[string]keystore.Tombstone),
		holds:      make(map[string]map[string]keystore.Hold),
		consent:    make(map[string]map[string]keystore.Consent),
		now:        time.Now,
	}
}

// Get implements keystore.Store.
func (s *Store) Get(ctx context.Context, id string) (keystore.Record, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tombstones[id]; ok {
		return keystore.Record{}, keystore.ErrTombstoned
	}
	rec, ok := s.records[id]
	if !ok {
		return keystore.Record{}, keystore.ErrNotFound
	}
	return rec.Clone(), nil
}

// GetMany implements keystore.BatchGetter.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]keystore.GetResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]keystore.GetResult, len(ids))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if _, ok := s.tombstones[id]; ok {
			out[i].Err = keystore.ErrTombstoned
		} else if rec, ok := s.records[id]; ok {
			out[i].Record = rec.Clone()
		} else {
			out[i].Err = keystore.ErrNotFound
		}
	}
	return out, nil
}

// Create implements keystore.Store.
func (s *Store) Create(ctx context.Context, rec keystore.Record) (keystore.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Record{}, false, err
	}
	if err := keystore.Validate(rec); err != nil {
		return keystore.Record{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tombstones[rec.ID]; ok {
		return keystore.Record{}, false, keystore.ErrTombstoned
	}
	if existing, ok := s.records[rec.ID]; ok {
		return existing.Clone(), false, nil
	}
	rec = rec.Clone()
	rec.RetainUntil = normalize(rec.RetainUntil)
	rec.Version = 1
	rec.Incarnation = rand.Text()
	rec.Created = s.clock()
	rec.Updated = rec.Created
	s.records[rec.ID] = rec
	return rec.Clone(), true, nil
}

// CreateMany implements keystore.BatchCreator: every record under one
// hold of the store's lock.
func (s *Store) CreateMany(ctx context.Context, recs []keystore.Record) ([]keystore.CreateResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if err := keystore.Validate(rec); err != nil {
			return nil, err
		}
	}
	out := make([]keystore.CreateResult, len(recs))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for i, rec := range recs {
		if _, ok := s.tombstones[rec.ID]; ok {
			out[i] = keystore.CreateResult{Err: keystore.ErrTombstoned}
			continue
		}
		if existing, ok := s.records[rec.ID]; ok {
			out[i] = keystore.CreateResult{Stored: existing.Clone()}
			continue
		}
		rec = rec.Clone()
		rec.RetainUntil = normalize(rec.RetainUntil)
		rec.Version = 1
		rec.Incarnation = rand.Text()
		rec.Created = now
		rec.Updated = now
		s.records[rec.ID] = rec
		out[i] = keystore.CreateResult{Stored: rec.Clone(), Created: true}
	}
	return out, nil
}

// Update implements keystore.Store.
func (s *Store) Update(ctx context.Context, rec keystore.Record) (keystore.Record, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Record{}, err
	}
	if err := keystore.Validate(rec); err != nil {
		return keystore.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tombstones[rec.ID]; ok {
		return keystore.Record{}, keystore.ErrTombstoned
	}
	cur, ok := s.records[rec.ID]
	if !ok {
		return keystore.Record{}, keystore.ErrNotFound
	}
	if cur.Version != rec.Version {
		return keystore.Record{}, fmt.Errorf("%w: have version %d, update is against %d", keystore.ErrConflict, cur.Version, rec.Version)
	}
	if cur.Incarnation != rec.Incarnation {
		return keystore.Record{}, fmt.Errorf("%w: the record was erased and created again since it was read", keystore.ErrConflict)
	}
	rec = rec.Clone()
	rec.RetainUntil = normalize(rec.RetainUntil)
	rec.Version = cur.Version + 1
	rec.Created = cur.Created
	rec.Updated = s.clock()
	s.records[rec.ID] = rec
	return rec.Clone(), nil
}

// Delete implements keystore.Store.
func (s *Store) Delete(ctx context.Context, t keystore.Tombstone) (keystore.Deletion, error) {
	return s.delete(ctx, t, nil)
}

// DeleteExpired implements keystore.Store.
func (s *Store) DeleteExpired(ctx context.Context, t keystore.Tombstone, now time.Time) (keystore.Deletion, error) {
	return s.delete(ctx, t, func(rec keystore.Record, found, tombstoned bool) error {
		return keystore.CheckExpired(rec, found, tombstoned, now)
	})
}

// delete erases t.ID if allow (when given) agrees, under the store's lock.
func (s *Store) delete(ctx context.Context, t keystore.Tombstone, allow func(rec keystore.Record, found, tombstoned bool) error) (keystore.Deletion, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Deletion{}, err
	}
	if err := keystore.ValidateID(t.ID); err != nil {
		return keystore.Deletion{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ErasedAt.IsZero() {
		t.ErasedAt = s.clock()
	}
	t.ErasedAt = t.ErasedAt.UTC().Truncate(time.Microsecond)
	_, hadTombstone := s.tombstones[t.ID]
	rec, found := s.records[t.ID]
	if err := s.heldLocked(t.ID); err != nil {
		return keystore.Deletion{}, err
	}
	if allow != nil {
		if err := allow(rec, found, hadTombstone); err != nil {
			return keystore.Deletion{}, err
		}
	}
	if !hadTombstone {
		s.tombstones[t.ID] = t
	}
	delete(s.records, t.ID)
	d := keystore.Deletion{Removed: rec, Found: found, AlreadyTombstoned: hadTombstone}
	d.Tokens = s.tokens.removeOwner(t.ID)
	if !hadTombstone || found || d.Tokens > 0 {
		d.ReceiptSeq = int64(len(s.receipts) + 1)
		s.receipts = append(s.receipts, keystore.Receipt{
			Seq: d.ReceiptSeq, ID: t.ID, KEKID: rec.KEKID, KeyIDs: rec.Clone().KeyIDs,
			ErasedAt: t.ErasedAt, Reason: t.Reason, Tokens: d.Tokens,
		})
	}
	return d, nil
}

// Receipts implements keystore.Store.
func (s *Store) Receipts(ctx context.Context, q keystore.ReceiptQuery) ([]keystore.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return nil, fmt.Errorf("%w: receipt limit must be positive", keystore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keystore.Receipt
	for _, r := range s.receipts {
		if r.Seq > q.After && (q.ID == "" || r.ID == q.ID) {
			r.KeyIDs = append([]uint32(nil), r.KeyIDs...)
			out = append(out, r)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

// Tombstones implements keystore.Store.
func (s *Store) Tombstones(ctx context.Context, after string, limit int) ([]keystore.Tombstone, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit must be positive", keystore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keystore.Tombstone
	for id, t := range s.tombstones {
		if id > after {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ScanExpired implements keystore.Store.
func (s *Store) ScanExpired(ctx context.Context, now time.Time, limit int) ([]keystore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit must be positive", keystore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keystore.Record
	for _, r := range s.records {
		if !r.RetainUntil.IsZero() && !r.RetainUntil.After(now) {
			out = append(out, r.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].RetainUntil.Equal(out[j].RetainUntil) {
			return out[i].RetainUntil.Before(out[j].RetainUntil)
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// GetTombstone implements keystore.Store.
func (s *Store) GetTombstone(ctx context.Context, id string) (keystore.Tombstone, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Tombstone{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tombstones[id]
	if !ok {
		return keystore.Tombstone{}, keystore.ErrNotFound
	}
	return t, nil
}

// Readmit implements keystore.Store.
func (s *Store) Readmit(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tombstones[id]
	if !ok {
		return nil
	}
	rec, found := s.records[id]
	// Brought back by a restore: the record and the token mappings hold
	// what was erased.
	if n := s.tokens.removeOwner(id); found || n > 0 {
		delete(s.records, id)
		s.receipts = append(s.receipts, keystore.Receipt{
			Seq: int64(len(s.receipts) + 1), ID: id, KEKID: rec.KEKID, KeyIDs: rec.Clone().KeyIDs,
			ErasedAt: s.clock(), Reason: t.Reason, Tokens: n,
		})
	}
	delete(s.tombstones, id)
	return nil
}

// Scan implements keystore.Store.
func (s *Store) Scan(ctx context.Context, after string, limit int) ([]keystore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: scan limit must be positive", keystore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]keystore.Record, len(ids))
	for i, id := range ids {
		out[i] = s.records[id].Clone()
	}
	return out, nil
}

// clock returns the current time at the precision every store keeps
// (microseconds, as PostgreSQL does), so records compare equal across stores.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// normalize keeps times at the precision every store keeps, in UTC.
func normalize(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
