package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.TokenVault = (*Store)(nil)

// tokenKey identifies one mapping; partKey one partition of a space.
type (
	tokenKey struct{ space, part, token, owner string }
	partKey  struct{ space, part string }
	refKey   struct{ space, part, key string } // key: a token, or an index
)

// tokens holds the vaulted token mappings, with the indexes the lookups
// and erasures need. Every method is called under the store's lock.
type tokens struct {
	rows    map[tokenKey]keystore.TokenMapping
	byToken map[refKey]map[string]bool // owners
	byIndex map[refKey]map[string]bool // owners
	byOwner map[string]map[tokenKey]bool
	count   map[partKey]int64
}

func (t *tokens) init() {
	if t.rows == nil {
		t.rows = map[tokenKey]keystore.TokenMapping{}
		t.byToken = map[refKey]map[string]bool{}
		t.byIndex = map[refKey]map[string]bool{}
		t.byOwner = map[string]map[tokenKey]bool{}
		t.count = map[partKey]int64{}
	}
}

func add(m map[refKey]map[string]bool, k refKey, owner string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][owner] = true
}

func (t *tokens) insert(r keystore.TokenMapping) {
	t.init()
	k := tokenKey{r.Space, r.Partition, r.Token, r.Owner}
	t.rows[k] = r
	add(t.byToken, refKey{r.Space, r.Partition, r.Token}, r.Owner)
	if r.Index != nil {
		add(t.byIndex, refKey{r.Space, r.Partition, string(r.Index)}, r.Owner)
	}
	if t.byOwner[r.Owner] == nil {
		t.byOwner[r.Owner] = map[tokenKey]bool{}
	}
	t.byOwner[r.Owner][k] = true
	t.count[partKey{r.Space, r.Partition}]++
}

func (t *tokens) remove(k tokenKey) {
	r, ok := t.rows[k]
	if !ok {
		return
	}
	delete(t.rows, k)
	tk := refKey{k.space, k.part, k.token}
	delete(t.byToken[tk], k.owner)
	if len(t.byToken[tk]) == 0 {
		delete(t.byToken, tk)
	}
	if r.Index != nil {
		ik := refKey{k.space, k.part, string(r.Index)}
		delete(t.byIndex[ik], k.owner)
		if len(t.byIndex[ik]) == 0 {
			delete(t.byIndex, ik)
		}
	}
	delete(t.byOwner[k.owner], k)
	if len(t.byOwner[k.owner]) == 0 {
		delete(t.byOwner, k.owner)
	}
	pk := partKey{k.space, k.part}
	if t.count[pk]--; t.count[pk] <= 0 {
		delete(t.count, pk)
	}
}

// removeOwner removes every mapping of owner and returns how many.
func (t *tokens) removeOwner(owner string) int64 {
	var n int64
	for k := range t.byOwner[owner] {
		t.remove(k)
		n++
	}
	return n
}

// moveOwner gives every mapping of from to owner to.
func (t *tokens) moveOwner(from, to string) {
	var moved []keystore.TokenMapping
	for k := range t.byOwner[from] {
		moved = append(moved, t.rows[k])
		t.remove(k)
	}
	for _, r := range moved {
		r.Owner = to
		t.insert(r)
	}
}

// live returns the live mappings of the owners in set, under space/part,
// whose key (token or index) is key.
func (t *tokens) lookup(set map[refKey]map[string]bool, k refKey, byIndex bool, now time.Time) []keystore.TokenMapping {
	out := []keystore.TokenMapping{}
	for owner := range set[k] {
		var r keystore.TokenMapping
		if byIndex {
			for tk := range t.byOwner[owner] {
				if c := t.rows[tk]; tk.space == k.space && tk.part == k.part && c.Index != nil && string(c.Index) == k.key {
					r = c
					break
				}
			}
		} else {
			r = t.rows[tokenKey{k.space, k.part, k.key, owner}]
		}
		if r.Token != "" && r.Live(now) {
			out = append(out, r.Clone())
		}
	}
	return out
}

// PutTokens implements keystore.TokenVault.
func (s *Store) PutTokens(ctx context.Context, now time.Time, puts []keystore.TokenPut) ([]keystore.TokenPutResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range puts {
		if err := keystore.ValidateTokenMapping(p.TokenMapping); err != nil {
			return nil, err
		}
		if p.Limit < 0 {
			return nil, fmt.Errorf("%w: negative token limit", keystore.ErrInvalid)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.tokens
	t.init()
	out := make([]keystore.TokenPutResult, len(puts))
	for i, p := range puts {
		if _, gone := s.tombstones[p.Owner]; p.Owner != "" && gone {
			out[i].Err = keystore.ErrTombstoned
			continue
		}
		r := p.TokenMapping.Clone()
		// Expired mappings that stand in the way are removed first.
		stale := t.lookupAll(t.byToken, refKey{r.Space, r.Partition, r.Token}, false)
		if r.Index != nil {
			stale = append(stale, t.lookupAll(t.byIndex, refKey{r.Space, r.Partition, string(r.Index)}, true)...)
		}
		for _, m := range stale {
			if !m.Live(now) {
				t.remove(tokenKey{m.Space, m.Partition, m.Token, m.Owner})
			}
		}
		if r.Index != nil {
			found := t.lookup(t.byIndex, refKey{r.Space, r.Partition, string(r.Index)}, true, now)
			var own, other *keystore.TokenMapping
			for j := range found {
				if found[j].Owner == r.Owner {
					own = &found[j]
				} else if other == nil {
					other = &found[j]
				}
			}
			if own != nil {
				out[i].Existing = own
				continue
			}
			if other != nil && other.Token != r.Token {
				out[i].Existing = other
				continue
			}
		}
		holders := t.lookup(t.byToken, refKey{r.Space, r.Partition, r.Token}, false, now)
		collide := false
		for _, h := range holders {
			if r.Index == nil || h.Index == nil || string(h.Index) != string(r.Index) || h.Owner == r.Owner {
				collide = true
			}
		}
		if collide {
			out[i].Collision = true
			continue
		}
		if p.Limit > 0 && t.count[partKey{r.Space, r.Partition}] >= p.Limit {
			out[i].Err = keystore.ErrTokenSpaceFull
			continue
		}
		r.Created = s.clock()
		r.ExpiresAt = normalize(r.ExpiresAt)
		t.insert(r)
		out[i].Stored = true
	}
	return out, nil
}

// lookupAll returns every mapping (live or not) under k.
func (t *tokens) lookupAll(set map[refKey]map[string]bool, k refKey, byIndex bool) []keystore.TokenMapping {
	return t.lookup(set, k, byIndex, time.Time{})
}

// GetTokens implements keystore.TokenVault.
func (s *Store) GetTokens(ctx context.Context, now time.Time, refs []keystore.TokenRef) ([][]keystore.TokenMapping, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range refs {
		if err := keystore.ValidateTokenRef(r); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens.init()
	out := make([][]keystore.TokenMapping, len(refs))
	for i, r := range refs {
		out[i] = s.tokens.lookup(s.tokens.byToken, refKey{r.Space, r.Partition, r.Token}, false, now)
	}
	return out, nil
}

// FindTokens implements keystore.TokenVault.
func (s *Store) FindTokens(ctx context.Context, now time.Time, refs []keystore.TokenIndexRef) ([][]keystore.TokenMapping, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range refs {
		if err := keystore.ValidateTokenIndexRef(r); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens.init()
	out := make([][]keystore.TokenMapping, len(refs))
	for i, r := range refs {
		out[i] = s.tokens.lookup(s.tokens.byIndex, refKey{r.Space, r.Partition, string(r.Index)}, true, now)
	}
	return out, nil
}

// ExpireTokens implements keystore.TokenVault.
func (s *Store) ExpireTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, fmt.Errorf("%w: expire limit must be positive", keystore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.tokens.rows {
		if n == limit {
			break
		}
		if !r.Live(now) {
			s.tokens.remove(k)
			n++
		}
	}
	return n, nil
}

// CountTokens implements keystore.TokenVault.
func (s *Store) CountTokens(ctx context.Context, space, partition string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens.count[partKey{space, partition}], nil
}
