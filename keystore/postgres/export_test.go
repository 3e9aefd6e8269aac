package postgres

import (
	"context"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Restore puts rec back as it is, beside any tombstone, as restoring a
// backup taken before an erasure would.
func Restore(t *testing.T, s *Store, rec keystore.Record) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO fieldcrypt_keys (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		rec.ID, rec.KEKID, rec.Wrapped, keyIDs(rec.KeyIDs), rec.Version, rec.Incarnation, rec.Created, rec.Updated, nullTime(rec.RetainUntil)); err != nil {
		t.Fatalf("restore %s: %v", rec.ID, err)
	}
}

// Migrations is the schema's migrations, for building old databases.
var Migrations = migrations
