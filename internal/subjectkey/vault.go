package subjectkey

import (
	"crypto/rand"
	"fmt"
	"slices"
)

// Vaulted-token keys.
//
// A global bundle holds the global vault key in its VAULT part ('v'): 32
// random bytes, generated on their own (crypto/rand), never derived from or
// shared with the PRF (addressing), TOKEN, ADDR or INDEX keys. It keys the
// convergent index of scope=global vaulted tokens (the keyed hash that
// makes one value map to one token). Global bundles made before it was
// introduced gain it on first use (AddVaultKey). The part is not a Tink
// keyset: its payload is the 32 key bytes, nothing else.
//
// A subject's vault keys are not stored: they are PRF outputs of the
// subject's bundle (VaultPartition, VaultIndexKey), so they are destroyed
// with the bundle, like the subject's index root.

// VaultKeySize is the size of the global vault key, in bytes.
const VaultKeySize = 32

// Labels of the PRF inputs of a subject's vault keys, apart from the PRF's
// other inputs ("fieldcrypt/token-key/v1", "fieldcrypt/index-root/v1",
// "fieldcrypt/subject/v1\x00…", "fieldcrypt/tokenmac/v1\x00…", the
// tombstone MAC label).
const (
	vaultPartitionLabel = "fieldcrypt/vault-partition/v1"
	vaultIndexLabel     = "fieldcrypt/vault-index/v1"
)

// HasVaultKey reports whether the bundle has a VAULT part.
func (b *Bundle) HasVaultKey() bool { return b.vault != nil }

// AddVaultKey gives the bundle a fresh global vault key. It refuses a
// bundle that has one already: the key is never replaced (every convergent
// scope=global vaulted token depends on it).
func (b *Bundle) AddVaultKey() error {
	if b.vault != nil {
		return fmt.Errorf("subjectkey: the bundle has a vault key already")
	}
	key := make([]byte, VaultKeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("subjectkey: generate vault key: %w", err)
	}
	b.vault = key
	return nil
}

func parseVaultPart(p []byte) ([]byte, error) {
	if len(p) != VaultKeySize {
		return nil, fmt.Errorf("%w: bad vault key part", ErrCorrupt)
	}
	return slices.Clone(p), nil
}

// VaultKey returns the global vault key (nil for a bundle without a VAULT
// part: a subject bundle, or a global bundle made before vault keys
// existed). Do not modify it.
func (k *Keys) VaultKey() []byte { return k.vaultKey }

// VaultPartition returns 16 bytes that name the subject's partition of the
// token vault: PRF("fieldcrypt/vault-partition/v1"). They do not depend on
// the subject's key store address, so the partition stays when the store
// is re-addressed.
func (k *Keys) VaultPartition() ([]byte, error) {
	v, err := k.Memo(vaultPartitionLabel, func() (any, error) {
		return k.PRF.ComputePrimaryPRF([]byte(vaultPartitionLabel), 16)
	})
	if err != nil {
		return nil, fmt.Errorf("subjectkey: derive vault partition: %w", err)
	}
	return v.([]byte), nil
}

// VaultIndexKey returns the key of the convergent index of the subject's
// vaulted tokens: PRF("fieldcrypt/vault-index/v1"), 32 bytes.
func (k *Keys) VaultIndexKey() ([]byte, error) {
	v, err := k.Memo(vaultIndexLabel, func() (any, error) {
		return k.PRF.ComputePrimaryPRF([]byte(vaultIndexLabel), VaultKeySize)
	})
	if err != nil {
		return nil, fmt.Errorf("subjectkey: derive vault index key: %w", err)
	}
	return v.([]byte), nil
}
