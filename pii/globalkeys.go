package pii

import (
	"context"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
)

// The global keys are one wrapped bundle in the key store (record
// "fieldcrypt.global") holding two independent keys:
//
//   - the addressing key, which turns a subject identifier into its key
//     store ID (HMAC-SHA256 of "fieldcrypt/subject/v1\x00" || subject) and
//     authenticates tombstone exports (TombstoneMAC);
//   - the global token key, from which the FF1 key of scope=global token
//     fields is derived.
//
// Stores initialized before the two were separated have one key for both;
// they keep working unchanged. RotateGlobalTokenKey gives them (or any
// store) a new, independent token key; RotateAddressingKey (readdress.go)
// adds a generation to the addressing chain, after which the addressing key
// and the token key are independent in every store.

// GlobalTokenKeys lists the ids of the global token keys, and the one this
// Protector uses (the current one, unless WithGlobalTokenKey pinned
// another). On a store initialized before the global token key was
// separated from the addressing key, the only id is the addressing key's.
func (p *Protector) GlobalTokenKeys() (ids []uint32, inUse uint32) {
	ids, inUse = p.ring.global.TokenKeyIDs()
	if p.ring.tokenKey != 0 {
		inUse = p.ring.tokenKey
	}
	return ids, inUse
}

// RotateGlobalTokenKey adds a new global token key to the global keys and
// makes it current, and returns its id. On a store whose global keys
// predate the separation of the token key from the addressing key, it
// creates the separate token key (the upgrade). It is the recovery step
// after the global token key leaked.
//
// Tokens with scope=global made before are not readable with the new key:
// FF1 tokens carry no key id, and a token read with the wrong key turns
// into another plausible value, not an error. Procedure:
//
//  1. Stop every writer and reader of scope=global token fields (or route
//     them to the step-3 job).
//  2. Note the current id (GlobalTokenKeys), then call RotateGlobalTokenKey.
//  3. For every record: Open it with a Protector created with
//     WithGlobalTokenKey(old id), Seal it with a Protector created after
//     the rotation (no pin), and write it back.
//  4. Restart every process: a Protector reads the global keys once, in
//     New; those created before the rotation keep using the old key.
//
// The old key stays in the global keys (so step 3 can be re-run); it
// cannot yet be removed.
func (p *Protector) RotateGlobalTokenKey(ctx context.Context) (uint32, error) {
	var id uint32
	err := p.rewriteID(ctx, "", globalRecordID, "rotate global token key", func(b *subjectkey.Bundle) (bool, error) {
		var err error
		id, err = b.RotateTokenKey()
		return true, err
	})
	return id, err
}
