package memory

import (
	"context"
	"sort"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var (
	_ keystore.Holder       = (*Store)(nil)
	_ keystore.RequestLog   = (*Store)(nil)
	_ keystore.ConsentStore = (*Store)(nil)
)

// heldLocked returns a *keystore.HoldError if id is under legal hold.
func (s *Store) heldLocked(id string) error {
	hs := s.holdsLocked(id)
	if len(hs) == 0 {
		return nil
	}
	return &keystore.HoldError{ID: id, Reference: hs[0].Reference}
}

// holdsLocked returns id's holds, oldest first.
func (s *Store) holdsLocked(id string) []keystore.Hold {
	out := make([]keystore.Hold, 0, len(s.holds[id]))
	for _, h := range s.holds[id] {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].Reference < out[j].Reference
	})
	return out
}

// moveRightsLocked moves from's holds and consent to to, and reports
// whether there were any.
func (s *Store) moveRightsLocked(from, to string) bool {
	moved := false
	if hs := s.holds[from]; len(hs) > 0 {
		if s.holds[to] == nil {
			s.holds[to] = map[string]keystore.Hold{}
		}
		for ref, h := range hs {
			if _, ok := s.holds[to][ref]; !ok {
				h.ID = to
				s.holds[to][ref] = h
			}
		}
		delete(s.holds, from)
		moved = true
	}
	if cs := s.consent[from]; len(cs) > 0 {
		if s.consent[to] == nil {
			s.consent[to] = map[string]keystore.Consent{}
		}
		for p, c := range cs {
			c.ID = to
			if cur, ok := s.consent[to][p]; ok {
				c = keystore.MergeConsent(c, cur)
			}
			s.consent[to][p] = c
		}
		delete(s.consent, from)
		moved = true
	}
	return moved
}

// Hold implements keystore.Holder.
func (s *Store) Hold(ctx context.Context, id string, h keystore.HoldInfo) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := keystore.CheckHold(id, h); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tombstones[id]; ok {
		return false, keystore.ErrTombstoned
	}
	if _, ok := s.holds[id][h.Reference]; ok {
		return false, nil
	}
	at := s.at(h.At)
	if s.holds[id] == nil {
		s.holds[id] = map[string]keystore.Hold{}
	}
	s.holds[id][h.Reference] = keystore.Hold{ID: id, Reference: h.Reference, By: h.By, At: at}
	s.holdHistory = append(s.holdHistory, keystore.HoldEvent{
		Seq: int64(len(s.holdHistory) + 1), ID: id, Action: keystore.HoldPlaced, Reference: h.Reference, By: h.By, At: at,
	})
	return true, nil
}

// Release implements keystore.Holder.
func (s *Store) Release(ctx context.Context, id string, h keystore.HoldInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := keystore.CheckHold(id, h); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.holds[id][h.Reference]; !ok {
		return keystore.ErrNotFound
	}
	delete(s.holds[id], h.Reference)
	if len(s.holds[id]) == 0 {
		delete(s.holds, id)
	}
	s.holdHistory = append(s.holdHistory, keystore.HoldEvent{
		Seq: int64(len(s.holdHistory) + 1), ID: id, Action: keystore.HoldReleased, Reference: h.Reference, By: h.By, At: s.at(h.At),
	})
	return nil
}

// Holds implements keystore.Holder.
func (s *Store) Holds(ctx context.Context, id string) ([]keystore.Hold, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holdsLocked(id), nil
}

// HeldIDs implements keystore.Holder.
func (s *Store) HeldIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := keystore.CheckHistoryLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return idsAfter(s.holds, after, limit), nil
}

// HoldHistory implements keystore.Holder.
func (s *Store) HoldHistory(ctx context.Context, q keystore.HistoryQuery) ([]keystore.HoldEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return page(s.holdHistory, q, func(e keystore.HoldEvent) (int64, string) { return e.Seq, e.ID }), nil
}

// AppendRequest implements keystore.RequestLog.
func (s *Store) AppendRequest(ctx context.Context, e keystore.RequestEvent) (keystore.RequestEvent, error) {
	if err := ctx.Err(); err != nil {
		return keystore.RequestEvent{}, err
	}
	if err := keystore.CheckRequest(e); err != nil {
		return keystore.RequestEvent{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Seq = int64(len(s.requests) + 1)
	e.At = s.at(e.At)
	e.Deadline = normalize(e.Deadline)
	if e.Action == keystore.RequestReceived {
		e.Request = e.Seq
	} else {
		if e.Request > int64(len(s.requests)) {
			return keystore.RequestEvent{}, keystore.ErrNotFound
		}
		r := s.requests[e.Request-1]
		if r.Action != keystore.RequestReceived || r.ID != e.ID {
			return keystore.RequestEvent{}, keystore.ErrNotFound
		}
		e.Ticket, e.Deadline = "", time.Time{}
	}
	s.requests = append(s.requests, e)
	return e, nil
}

// RequestEvents implements keystore.RequestLog.
func (s *Store) RequestEvents(ctx context.Context, q keystore.HistoryQuery) ([]keystore.RequestEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return page(s.requests, q, func(e keystore.RequestEvent) (int64, string) { return e.Seq, e.ID }), nil
}

// SetConsent implements keystore.ConsentStore.
func (s *Store) SetConsent(ctx context.Context, c keystore.ConsentChange) (keystore.ConsentEvent, error) {
	if err := ctx.Err(); err != nil {
		return keystore.ConsentEvent{}, err
	}
	if err := keystore.CheckConsent(c); err != nil {
		return keystore.ConsentEvent{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tombstones[c.ID]; ok {
		return keystore.ConsentEvent{}, keystore.ErrTombstoned
	}
	at := s.at(c.At)
	e := keystore.ConsentEvent{
		Seq: int64(len(s.consentHistory) + 1), ID: c.ID, Purpose: c.Purpose,
		Action: keystore.ConsentAction(c.Grant), Actor: c.Actor, At: at,
	}
	s.consentHistory = append(s.consentHistory, e)
	if s.consent[c.ID] == nil {
		s.consent[c.ID] = map[string]keystore.Consent{}
	}
	if cur, ok := s.consent[c.ID][c.Purpose]; !ok || !at.Before(cur.At) {
		s.consent[c.ID][c.Purpose] = keystore.Consent{ID: c.ID, Purpose: c.Purpose, Granted: c.Grant, Actor: c.Actor, At: at}
	}
	return e, nil
}

// Consents implements keystore.ConsentStore.
func (s *Store) Consents(ctx context.Context, id string) ([]keystore.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keystore.Consent, 0, len(s.consent[id]))
	for _, c := range s.consent[id] {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Purpose < out[j].Purpose })
	return out, nil
}

// ConsentIDs implements keystore.ConsentStore.
func (s *Store) ConsentIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := keystore.CheckHistoryLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return idsAfter(s.consent, after, limit), nil
}

// ConsentHistory implements keystore.ConsentStore.
func (s *Store) ConsentHistory(ctx context.Context, q keystore.HistoryQuery) ([]keystore.ConsentEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := keystore.CheckHistoryLimit(q.Limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return page(s.consentHistory, q, func(e keystore.ConsentEvent) (int64, string) { return e.Seq, e.ID }), nil
}

// at is t at the store's precision, or now if t is zero.
func (s *Store) at(t time.Time) time.Time {
	if t.IsZero() {
		return s.clock()
	}
	return normalize(t)
}

func idsAfter[V any](m map[string]V, after string, limit int) []string {
	var ids []string
	for id := range m {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids
}

func page[E any](log []E, q keystore.HistoryQuery, key func(E) (int64, string)) []E {
	var out []E
	for _, e := range log {
		seq, id := key(e)
		if seq > q.After && (q.ID == "" || id == q.ID) {
			out = append(out, e)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out
}
