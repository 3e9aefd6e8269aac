package main

import (
	"context"

	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
)

// TEMPORARY STUB until kstore's postgres.MustExist lands.
func openPostgres(ctx context.Context, dsn string, mode openMode) (*postgres.Store, error) {
	return postgres.Open(ctx, dsn)
}
