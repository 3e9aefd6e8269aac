package db

import (
	"context"
	"database/sql"

	"github.com/fieldcrypt/fieldcrypt/pii"
	"models"
)

const insert = "INSERT INTO customers (id, name) VALUES ($1, $2)"

func unsealed(ctx context.Context, db *sql.DB, c models.Customer) {
	db.ExecContext(ctx, insert, c.ID, c.Name)                         // want `c.Name \(protected field Customer.Name\) is written to the database by \(\*sql.DB\).ExecContext, with no pii Seal of c before it`
	db.Exec(insert, c.ID, *c.Nick)                                    // want `protected field Customer.Nick`
	db.QueryRowContext(ctx, "SELECT 1 WHERE n = $1", string(c.Notes)) // want `protected field Customer.Notes`
}

func sealed(ctx context.Context, p *pii.Protector, db *sql.DB, c models.Customer) error {
	if err := p.Seal(ctx, &c); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, insert, c.ID, c.Name)
	return err
}

func sealedTooLate(ctx context.Context, p *pii.Protector, db *sql.DB, c models.Customer) {
	db.Exec(insert, c.ID, c.Name) // want `no pii Seal of c before it`
	_ = p.Seal(ctx, &c)
}

func sealedOther(ctx context.Context, p *pii.Protector, db *sql.DB, c, d models.Customer) {
	_ = p.Seal(ctx, &d)
	db.Exec(insert, c.ID, c.Name) // want `no pii Seal of c`
}

func nested(ctx context.Context, p *pii.Protector, tx *sql.Tx, n, m models.Nested) {
	tx.Exec(insert, n.Home.Street) // want `protected field Address.Street`
	_ = p.Seal(ctx, &m)
	tx.Exec(insert, m.Home.Street, m.Phones[0].Number)
}

func bulk(ctx context.Context, p *pii.Protector, stmt *sql.Stmt, cs []models.Customer, ds []*models.Customer) error {
	if err := p.SealAll(ctx, cs); err != nil {
		return err
	}
	for _, c := range cs {
		if _, err := stmt.ExecContext(ctx, c.ID, c.Name); err != nil {
			return err
		}
	}
	for i := range cs {
		stmt.Exec(cs[i].ID, cs[i].Aliases[0])
	}
	for _, d := range ds {
		stmt.Exec(d.ID, d.Name) // want `no pii Seal of d`
	}
	return nil
}

func whole(ctx context.Context, p *pii.Protector, conn *sql.Conn, c models.Customer, n models.Nested) {
	conn.ExecContext(ctx, insert, c)   // want `c of type models.Customer, which holds protected field Name, is written to the database by \(\*sql.Conn\).ExecContext`
	conn.QueryContext(ctx, insert, &n) // want `holds protected field Home.Street`
	_ = p.Seal(ctx, &c)
	conn.ExecContext(ctx, insert, c)
}

func closure(ctx context.Context, p *pii.Protector, db *sql.DB, c models.Customer) {
	_ = p.Seal(ctx, &c)
	func() {
		db.Exec(insert, c.Name)
	}()
}

func untagged(ctx context.Context, db *sql.DB, c models.Customer, pl models.Plain) {
	db.Exec(insert, c.ID, c.Tier, pl.Name, pl, pl.Skip.Street)
	db.Exec(insert, c.Name) //piivet:ignore sealed by the caller
}

func fromCall(db *sql.DB, get func() models.Customer) {
	db.Exec(insert, get().Name) // want `no pii Seal of it`
}
