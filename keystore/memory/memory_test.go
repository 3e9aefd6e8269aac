package memory_test

import (
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/storetest"
)

func newStore(*testing.T) keystore.Store { return memory.New() }

func restore(_ *testing.T, s keystore.Store, rec keystore.Record) {
	memory.Restore(s.(*memory.Store), rec)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore, storetest.WithRestore(restore))
}

// TestReviewH1UpdateAcrossErasure: an Update of a record read before
// Delete + Readmit + Create fails with ErrConflict.
func TestReviewH1UpdateAcrossErasure(t *testing.T) {
	storetest.Run(t, newStore, storetest.Only("UpdateAcrossErasure"))
}
