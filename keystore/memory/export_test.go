package memory

import "github.com/fieldcrypt/fieldcrypt/keystore"

// Restore puts rec back as it is, beside any tombstone, as restoring a
// backup taken before an erasure would.
func Restore(s *Store, rec keystore.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[rec.ID] = rec.Clone()
}
