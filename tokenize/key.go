package tokenize

import (
	"crypto/rand"
	"fmt"
)

// Key is an AES key for FF1 (16, 24 or 32 bytes). It never prints its bytes.
type Key struct {
	b []byte
}

// NewKey returns a Key holding a copy of b, which must be 16, 24 or 32
// bytes long.
func NewKey(b []byte) (Key, error) {
	switch len(b) {
	case 16, 24, 32:
		return Key{b: append([]byte(nil), b...)}, nil
	}
	return Key{}, ErrInvalidKey
}

// GenerateKey returns a new random 256-bit key.
func GenerateKey() Key {
	b := make([]byte, 32)
	rand.Read(b) // never fails on supported platforms
	return Key{b: b}
}

// String never reveals the key.
func (k Key) String() string { return fmt.Sprintf("tokenize.Key(%d bits, [redacted])", 8*len(k.b)) }

// GoString never reveals the key.
func (k Key) GoString() string { return k.String() }

// Format never reveals the key, whatever the verb.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }
