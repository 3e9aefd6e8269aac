package gormfc_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/orm/gormfc"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Customer is the test model: a sealed string, a string column that
// refuses plaintext, typed values, a blind index, and plain columns.
type Customer struct {
	ID        uint                  `gorm:"primaryKey"`
	Subject   string                `pii:"subject" gorm:"not null"`
	Name      string                `pii:"encrypt"`
	Email     pii.SealedString      `pii:"encrypt"`
	EmailIdx  string                `pii:"index=Email,transform=trim+fold,name=email" gorm:"index"`
	Born      pii.Sealed[time.Time] `gorm:"type:text"`
	Salary    pii.Sealed[int64]     `pii:"encrypt,name=salary" gorm:"type:text"`
	Team      string
	Code      string `gorm:"uniqueIndex"` // for constraint violations
	CreatedAt time.Time
}

// env is one database with the plugin registered.
type env struct {
	name string
	db   *gorm.DB // with the plugin
	raw  *sql.DB  // the same database, without GORM
	p    *pii.Protector
	pg   bool
}

func newProtector(t testing.TB) *pii.Protector {
	t.Helper()
	kek, err := local.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p, err := pii.New(context.Background(), kek, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func openSQLite(t testing.TB) (*gorm.DB, *sql.DB) {
	t.Helper()
	sqlDB, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1)
	t.Cleanup(func() { sqlDB.Close() })
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return db, sqlDB
}

func openPostgres(t testing.TB) (*gorm.DB, *sql.DB) {
	t.Helper()
	dsn := pgtest.Schema(t)
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db, sqlDB
}

// forEach runs f against SQLite and PostgreSQL (skipped without a server).
func forEach(t *testing.T, f func(t *testing.T, e *env)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var e env
			e.name, e.pg = name, name == "postgres"
			if e.pg {
				e.db, e.raw = openPostgres(t)
			} else {
				e.db, e.raw = openSQLite(t)
			}
			e.p = newProtector(t)
			if err := e.db.Use(gormfc.New(e.p)); err != nil {
				t.Fatal(err)
			}
			if err := e.db.AutoMigrate(&Customer{}); err != nil {
				t.Fatal(err)
			}
			f(t, &e)
		})
	}
}
