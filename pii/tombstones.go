package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// tombstoneMACLabel is the PRF input that derives the tombstone export key
// from the global addressing key. Nothing else uses this label.
const tombstoneMACLabel = "fieldcrypt/tombstone-mac/v1"

// TombstoneMAC authenticates a tombstone for export (`fieldcrypt
// export-tombstones`), so that a file of tombstones can be checked before
// it is re-applied to a restored store: HMAC-SHA256, under a key derived
// from the newest addressing key (see RotateAddressingKey) with its own label, over a length-prefixed encoding
// of the tombstone's ID, ErasedAt (UTC, in microseconds) and Reason. Only
// holders of the same global keys can compute or verify it.
func (p *Protector) TombstoneMAC(t keystore.Tombstone) []byte {
	m := hmac.New(sha256.New, p.ring.addr.Load().tombstoneKey)
	m.Write(tombstoneMessage(t))
	return m.Sum(nil)
}

// VerifyTombstone checks mac against TombstoneMAC(t) in constant time. It
// fails with ErrAuthentication if they differ: the tombstone was altered,
// forged, or exported from a store with other global keys.
func (p *Protector) VerifyTombstone(t keystore.Tombstone, mac []byte) error {
	if !hmac.Equal(p.TombstoneMAC(t), mac) {
		return fmt.Errorf("%w: tombstone MAC does not match", ErrAuthentication)
	}
	return nil
}

// tombstoneMessage is the MAC input:
//
//	"fieldcrypt/tombstone/v1" || u32 len(ID) || ID || i64 ErasedAt (UTC µs since the epoch) || u32 len(Reason) || Reason
//
// (big-endian). A zero ErasedAt encodes as the minimum int64.
func tombstoneMessage(t keystore.Tombstone) []byte {
	const label = "fieldcrypt/tombstone/v1"
	b := make([]byte, 0, len(label)+4+len(t.ID)+8+4+len(t.Reason))
	b = append(b, label...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(t.ID)))
	b = append(b, t.ID...)
	at := int64(-1 << 63)
	if !t.ErasedAt.IsZero() {
		at = t.ErasedAt.UTC().UnixMicro()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.BigEndian.AppendUint32(b, uint32(len(t.Reason)))
	return append(b, t.Reason...)
}
