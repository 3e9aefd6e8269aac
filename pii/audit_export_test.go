package pii

// RecordIDOf is the keyed reference audit events carry for subject.
func RecordIDOf(p *Protector, subject string) (string, error) { return p.ring.recordID(subject) }
