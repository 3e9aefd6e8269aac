package pii

// GuardMarks reports how many erased-while-loading marks the key cache
// keeps.
func (p *Protector) GuardMarks() int { return p.ring.cache.markCount() }

// RecordID returns the key store ID of subject.
func (p *Protector) RecordID(subject string) string {
	id, err := p.ring.recordID(subject)
	if err != nil {
		panic(err)
	}
	return id
}

// SetWaitingHook sets a function called each time a caller starts waiting
// on a (possibly shared) key load.
func (p *Protector) SetWaitingHook(f func()) { p.ring.testWaiting = f }
