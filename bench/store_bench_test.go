package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// stores returns the persistent stores to compare: SQLite always,
// PostgreSQL when ./test.sh or bench/run.sh started one.
func stores(b *testing.B) map[string]func(b *testing.B) keystore.Store {
	out := map[string]func(b *testing.B) keystore.Store{
		"sqlite": func(b *testing.B) keystore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "keys.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
	out["postgres"] = func(b *testing.B) keystore.Store {
		s, err := postgres.Open(context.Background(), pgtest.Schema(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		return s
	}
	return out
}

func wrappedKey() []byte { return make([]byte, 200) } // about a wrapped bundle's size

// BenchmarkStoreCreate measures creating one key record.
func BenchmarkStoreCreate(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run("store="+name, func(b *testing.B) {
			s := stores(b)[name](b)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if _, _, err := s.Create(ctx, keystore.Record{ID: "s." + strconv.Itoa(i), KEKID: "k", Wrapped: wrappedKey(), KeyIDs: []uint32{1, 2, 3}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreGet measures reading one of 1,000 key records.
func BenchmarkStoreGet(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run("store="+name, func(b *testing.B) {
			s := stores(b)[name](b)
			ctx := context.Background()
			for i := range 1000 {
				if _, _, err := s.Create(ctx, keystore.Record{ID: "s." + strconv.Itoa(i), KEKID: "k", Wrapped: wrappedKey()}); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Get(ctx, "s."+strconv.Itoa(i%1000)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealAllCold seals 10,000 records of 10,000 new subjects in one
// SealAll (batched key wrapping through a KEK that batches, then one store
// creation per subject), per store. Reported per SealAll call.
func BenchmarkSealAllCold(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run("subjects=10000/store="+name, func(b *testing.B) {
			ctx := context.Background()
			run := 0
			for b.Loop() {
				b.StopTimer()
				s := stores(b)[name](b)
				p, err := pii.New(ctx, kmstest.New("bench"), s)
				if err != nil {
					b.Fatal(err)
				}
				run++
				recs := make([]Fields6, 10_000)
				for i := range recs {
					recs[i] = newFields6(fmt.Sprintf("run%d-subject-%d", run, i))
				}
				b.StartTimer()
				if err := p.SealAll(ctx, recs); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				p.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/10k-subjects")
		})
	}
}

// BenchmarkErasurePropagation measures, over 100 trials per iteration, the
// time from Forget returning on one instance to the first refused Seal on
// another instance that had the subject's key cached (PostgreSQL: NOTIFY).
// It reports the median and the maximum.
func BenchmarkErasurePropagation(b *testing.B) {
	dsn := pgtest.Schema(b)
	ctx := context.Background()
	kek := kmstest.New("bench")
	var ps []*pii.Protector
	for range 2 {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		p, err := pii.New(ctx, kek, s)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close(); s.Close() })
		ps = append(ps, p)
	}
	a, other := ps[0], ps[1]
	time.Sleep(200 * time.Millisecond) // let both listeners connect
	var samples []time.Duration
	trial := 0
	for b.Loop() {
		for range 100 {
			trial++
			subject := "erase-" + strconv.Itoa(trial)
			v := Fields1{ID: subject, F00: value(0)}
			if err := other.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
			if _, err := a.Forget(ctx, subject); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for {
				w := Fields1{ID: subject, F00: value(0)}
				err := other.Seal(ctx, &w)
				if errors.Is(err, pii.ErrForgotten) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if time.Since(start) > 5*time.Second {
					b.Fatal("erasure never reached the other instance")
				}
				time.Sleep(100 * time.Microsecond)
			}
			samples = append(samples, time.Since(start))
		}
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "max-ms")
}
