//go:build goexperiment.jsonv2

package pii_test

import (
	jsonv2 "encoding/json/v2"
	"errors"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// encoding/json/v2 (GOEXPERIMENT=jsonv2 in Go 1.26) calls the v1 methods:
// the same ciphertext-only behaviour.
func TestSealedJSONv2(t *testing.T) {
	type doc struct{ S pii.Sealed[int] }
	if _, err := jsonv2.Marshal(doc{pii.NewSealed(7)}); !errors.Is(err, pii.ErrNotSealed) {
		t.Errorf("v2 Marshal of a plaintext = %v, want ErrNotSealed", err)
	}
	var s pii.Sealed[int]
	if err := s.Scan("fc1a.AR2-3cQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); err != nil {
		t.Fatal(err)
	}
	b, err := jsonv2.Marshal(doc{s})
	if err != nil || !strings.Contains(string(b), `"fc1a.`) {
		t.Errorf("v2 Marshal of a ciphertext = %s, %v", b, err)
	}
	var back doc
	if err := jsonv2.Unmarshal(b, &back); err != nil || !back.S.IsSealed() {
		t.Errorf("v2 Unmarshal = %v", err)
	}
	if err := jsonv2.Unmarshal([]byte(`{"S":7}`), &back); !errors.Is(err, pii.ErrNotSealed) {
		t.Errorf("v2 Unmarshal of a plaintext = %v, want ErrNotSealed", err)
	}
}
