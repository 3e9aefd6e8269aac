package gormfc_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/orm/gormfc"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Patient is a GORM model with protected fields.
type Patient struct {
	ID       uint                  `gorm:"primaryKey"`
	Subject  string                `pii:"subject"`                                    // whose data: selects the key
	Name     string                `pii:"encrypt"`                                    // sealed text
	Email    pii.SealedString      `pii:"encrypt"`                                    // sealed; the column refuses plaintext
	EmailIdx string                `pii:"index=Email,transform=trim+fold,name=email"` // blind index, filled by Seal
	Born     pii.Sealed[time.Time] `gorm:"type:text"`                                 // a typed value, sealed
	Ward     string                // not personal data
}

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "gormfc-example")
	defer os.RemoveAll(dir)

	// A Protector (a local KEK and an in-memory key store, for the example).
	kek, _ := local.Generate()
	p, err := pii.New(ctx, kek, memory.New())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// GORM on SQLite without cgo: the pure-Go modernc driver, given to the
	// dialector as a connection.
	sqlDB, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer sqlDB.Close()
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Use(gormfc.New(p)); err != nil {
		log.Fatal(err)
	}
	if err := db.AutoMigrate(&Patient{}); err != nil {
		log.Fatal(err)
	}

	ada := Patient{Subject: "patient-1", Name: "Ada Lovelace", Email: "ada@example.com",
		Born: pii.NewSealed(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)), Ward: "B"}
	if err := db.Create(&ada).Error; err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Create:", ada.ID, ada.Name) // the caller keeps its plaintext

	var name string
	sqlDB.QueryRow(`SELECT name FROM patients WHERE id = ?`, ada.ID).Scan(&name)
	fmt.Println("in the table:", name[:3]+"…") // a ciphertext

	var got Patient
	if err := db.First(&got, ada.ID).Error; err != nil {
		log.Fatal(err)
	}
	b, _ := got.Born.Get()
	fmt.Println("read back:", got.Name, got.Email, b.Format(time.DateOnly))

	found, err := gormfc.FindByIndex[Patient](ctx, db, p, "email", " ADA@example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("found by email:", len(found), found[0].Name)

	err = db.Model(&got).Update("name", "Mallory").Error
	fmt.Println("plaintext update refused:", err != nil)
	// Output:
	// after Create: 1 Ada Lovelace
	// in the table: fc1…
	// read back: Ada Lovelace ada@example.com 1815-12-10
	// found by email: 1 Ada Lovelace
	// plaintext update refused: true
}
