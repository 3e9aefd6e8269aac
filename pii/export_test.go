package pii

import "time"

// WithClock replaces the clock, for tests of time-dependent behaviour.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// CachedSubjects reports how many subjects the key cache holds.
func (p *Protector) CachedSubjects() int { return p.ring.cache.len() }
