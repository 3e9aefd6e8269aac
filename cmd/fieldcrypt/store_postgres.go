package main

import (
	"context"

	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
)

// openPostgres opens a PostgreSQL store; with mustExist, a database
// without the schema is an error and nothing is created.
func openPostgres(ctx context.Context, dsn string, mode openMode) (*postgres.Store, error) {
	var opts []postgres.Option
	if mode == mustExist {
		opts = append(opts, postgres.MustExist())
	}
	return postgres.Open(ctx, dsn, opts...)
}
