package pii

import (
	"context"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms"
)

// DropIndexKeys replaces the global keys of a store that holds nothing else
// with global keys as a release before index keys made them: no INDEX part.
func DropIndexKeys(ctx context.Context, kek kms.KEK, store keystore.Store) error {
	rec, err := store.Get(ctx, globalRecordID)
	if err != nil {
		return err
	}
	b, err := subjectkey.New()
	if err != nil {
		return err
	}
	if _, err := b.RotateTokenKey(); err != nil {
		return err
	}
	raw, err := b.Marshal()
	if err != nil {
		return err
	}
	if rec.Wrapped, err = kek.Encrypt(ctx, raw, subjectkey.WrapAssociatedData(globalRecordID)); err != nil {
		return err
	}
	rec.KeyIDs = b.KeyIDs()
	_, err = store.Update(ctx, rec)
	return err
}
