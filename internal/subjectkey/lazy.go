package subjectkey

import (
	"fmt"
	"sync"

	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/daead/aessiv"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// lazyDAEAD is the deterministic AEAD of a bundle, built on first use.
// Most subjects never have a deterministic field opened or sealed, and the
// built AES-SIV primitive (two expanded AES keys and Tink's wrapper) is
// about 1.2 KB of heap per cached subject; the keyset handle it is built
// from, already parsed and checked by Parse, is a quarter of that.
type lazyDAEAD struct {
	once sync.Once
	h    *keyset.Handle // dropped once built
	p    tink.DeterministicAEAD
	err  error
}

var _ tink.DeterministicAEAD = (*lazyDAEAD)(nil)

func (l *lazyDAEAD) get() (tink.DeterministicAEAD, error) {
	l.once.Do(func() {
		p, err := daead.New(l.h)
		if err != nil {
			l.err = fmt.Errorf("subjectkey: deterministic keyset: %w", err)
		}
		l.p, l.h = p, nil
	})
	return l.p, l.err
}

func (l *lazyDAEAD) EncryptDeterministically(pt, ad []byte) ([]byte, error) {
	p, err := l.get()
	if err != nil {
		return nil, err
	}
	return p.EncryptDeterministically(pt, ad)
}

func (l *lazyDAEAD) DecryptDeterministically(ct, ad []byte) ([]byte, error) {
	p, err := l.get()
	if err != nil {
		return nil, err
	}
	return p.DecryptDeterministically(ct, ad)
}

// checkDAEAD checks, without building it, that daead.New will accept h: a
// primary key, and every enabled key an AES-SIV key.
func checkDAEAD(h *keyset.Handle) error {
	if _, err := h.Primary(); err != nil {
		return fmt.Errorf("subjectkey: deterministic keyset: %w", err)
	}
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return fmt.Errorf("subjectkey: deterministic keyset: %w", err)
		}
		if e.KeyStatus() != keyset.Enabled {
			continue
		}
		if _, ok := e.Key().(*aessiv.Key); !ok {
			return fmt.Errorf("subjectkey: deterministic keyset: key %d is not an AES-SIV key", e.KeyID())
		}
	}
	return nil
}
