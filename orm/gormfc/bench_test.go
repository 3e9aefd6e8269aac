package gormfc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/orm/gormfc"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

const benchRows = 1000

// benchEnv is a PostgreSQL schema with the customers table, one *gorm.DB
// with the plugin and one without, and a Protector whose key cache holds
// the keys of every subject the benchmark uses (so both sides measure the
// warm path: sealing, the round trips, opening).
type benchEnv struct {
	plugin, plain *gorm.DB
	p             *pii.Protector
}

func newBenchEnv(b *testing.B) *benchEnv {
	dsn := pgtest.Schema(b)
	open := func() *gorm.DB {
		db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			b.Fatal(err)
		}
		sqlDB, _ := db.DB()
		b.Cleanup(func() { sqlDB.Close() })
		return db
	}
	e := &benchEnv{plugin: open(), plain: open(), p: newProtector(b)}
	if err := e.plugin.Use(gormfc.New(e.p)); err != nil {
		b.Fatal(err)
	}
	if err := e.plain.AutoMigrate(&Customer{}); err != nil {
		b.Fatal(err)
	}
	// Warm the key cache: one key per subject.
	warm := benchCustomers(0)
	if err := e.p.SealAll(context.Background(), warm); err != nil {
		b.Fatal(err)
	}
	return e
}

// benchCustomers returns benchRows plaintext customers, one subject each.
func benchCustomers(round int) []Customer {
	cs := make([]Customer, benchRows)
	for i := range cs {
		cs[i] = newCustomer(fmt.Sprintf("subject-%04d", i), "Ada Lovelace", fmt.Sprintf("ada%d@example.com", i), fmt.Sprintf("r%d-%d", round, i), int64(i))
	}
	return cs
}

// viaPlugin inserts rows and reads them back through the plugin.
func (e *benchEnv) viaPlugin(ctx context.Context, rows []Customer) error {
	db := e.plugin.WithContext(ctx)
	if err := db.Create(&rows).Error; err != nil {
		return err
	}
	var out []Customer
	if err := db.Where("id >= ?", rows[0].ID).Find(&out).Error; err != nil {
		return err
	}
	if len(out) != benchRows || out[5].Name != "Ada Lovelace" {
		return fmt.Errorf("read %d rows", len(out))
	}
	return nil
}

// manual is the same with SealAll and OpenAll around plain GORM calls.
func (e *benchEnv) manual(ctx context.Context, rows []Customer) error {
	db := e.plain.WithContext(ctx)
	if err := e.p.SealAll(ctx, rows); err != nil {
		return err
	}
	if err := db.Create(&rows).Error; err != nil {
		return err
	}
	var out []Customer
	if err := db.Where("id >= ?", rows[0].ID).Find(&out).Error; err != nil {
		return err
	}
	if err := e.p.OpenAll(ctx, out); err != nil {
		return err
	}
	if len(out) != benchRows || out[5].Name != "Ada Lovelace" {
		return fmt.Errorf("read %d rows", len(out))
	}
	return nil
}

func (e *benchEnv) truncate(b *testing.B) {
	if err := e.plain.Exec(`TRUNCATE customers`).Error; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkInsertSelect1000 inserts 1,000 rows (one statement) and
// selects them back, opened: through the plugin, and with SealAll/OpenAll
// by hand around a GORM without it. The goal: plugin ≤ 1.1×
// manual. The table is emptied between iterations, off the clock.
func BenchmarkInsertSelect1000(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		run  func(context.Context, []Customer) error
	}{{"plugin", e.viaPlugin}, {"manual", e.manual}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				e.truncate(b)
				rows := benchCustomers(i)
				b.StartTimer()
				if err := bc.run(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInsertSelect1000Ratio runs both, alternately, in every
// iteration, and reports the ratio of their total times (plugin/manual),
// so that drift on a shared machine affects both sides alike.
func BenchmarkInsertSelect1000Ratio(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	var tPlugin, tManual time.Duration
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			b.StopTimer()
			e.truncate(b)
			rows := benchCustomers(i)
			b.StartTimer()
			start := time.Now()
			if (i+k)%2 == 0 {
				if err := e.viaPlugin(ctx, rows); err != nil {
					b.Fatal(err)
				}
				tPlugin += time.Since(start)
			} else {
				if err := e.manual(ctx, rows); err != nil {
					b.Fatal(err)
				}
				tManual += time.Since(start)
			}
		}
	}
	if tManual > 0 {
		b.ReportMetric(float64(tPlugin)/float64(tManual), "plugin/manual")
	}
}
