package memory_test

import (
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) keystore.Store { return memory.New() })
}
