// Package flags is checked with -slogredacted and
// -seal=store.Repo.Protect.
package flags

import (
	"context"
	"database/sql"
	"log/slog"

	"models"
	"store"
)

func logging(c models.Customer) {
	slog.Info("saved", "customer", c, "all", []models.Customer{c})
	slog.Info("saved", "name", c.Name) // want `c.Name \(protected field Customer.Name\) is passed to slog.Info`
}

func wrapped(ctx context.Context, r *store.Repo, db *sql.DB, c, d models.Customer) {
	_ = r.Protect(ctx, &c)
	db.Exec("INSERT", c.Name)
	db.Exec("INSERT", d.Name) // want `no pii Seal of d`
}
