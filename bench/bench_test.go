package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// values are 32-byte field values, like an email or a name; made once so
// the benchmarks measure sealing, not formatting.
var values = func() (v [24]string) {
	for i := range v {
		v[i] = fmt.Sprintf("person%02d.full-name@example-mail.com", i)[:32]
	}
	return v
}()

func value(i int) string { return values[i] }

func newProtector(b *testing.B, store keystore.Store) *pii.Protector {
	b.Helper()
	kek, err := local.Generate()
	if err != nil {
		b.Fatal(err)
	}
	p, err := pii.New(context.Background(), kek, store)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// warm seals and opens one struct per iteration for a subject whose key is
// cached: the steady state of an application.
func benchWarm[T any](b *testing.B, fresh func(string) T, open bool) {
	ctx := context.Background()
	p := newProtector(b, memory.New())
	plain := fresh("subject-1")
	sealed := plain
	if err := p.Seal(ctx, &sealed); err != nil { // creates and caches the key
		b.Fatal(err)
	}
	n := reflect.TypeFor[T]().NumField() - 1
	b.SetBytes(int64(32 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var v T
		if open {
			v = sealed
			if err := p.Open(ctx, &v); err != nil {
				b.Fatal(err)
			}
		} else {
			v = plain
			if err := p.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	b.Run("fields=1", func(b *testing.B) { benchWarm(b, newFields1, false) })
	b.Run("fields=6", func(b *testing.B) { benchWarm(b, newFields6, false) })
	b.Run("fields=24", func(b *testing.B) { benchWarm(b, newFields24, false) })
}

func BenchmarkOpen(b *testing.B) {
	b.Run("fields=1", func(b *testing.B) { benchWarm(b, newFields1, true) })
	b.Run("fields=6", func(b *testing.B) { benchWarm(b, newFields6, true) })
	b.Run("fields=24", func(b *testing.B) { benchWarm(b, newFields24, true) })
}

// BenchmarkTinkBaseline is the floor: per iteration, the same number of raw
// Tink AES-256-GCM calls as Seal or Open makes, with a keyset of the same
// template, the same plaintexts and the same associated data (built once,
// outside the loop).
func BenchmarkTinkBaseline(b *testing.B) {
	for _, n := range []int{1, 6, 24} {
		h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if err != nil {
			b.Fatal(err)
		}
		a, err := aead.New(h)
		if err != nil {
			b.Fatal(err)
		}
		pts := make([][]byte, n)
		ads := make([][]byte, n)
		cts := make([][]byte, n)
		for i := range n {
			pts[i] = []byte(value(i))
			ads[i] = envelope.AppendAssociatedData(nil, "subject-1", "Fields"+strconv.Itoa(n), fmt.Sprintf("F%02d", i))
			cts[i], _ = a.Encrypt(pts[i], ads[i])
		}
		b.Run(fmt.Sprintf("encrypt/fields=%d", n), func(b *testing.B) {
			b.SetBytes(int64(32 * n))
			b.ReportAllocs()
			for b.Loop() {
				for i := range n {
					if _, err := a.Encrypt(pts[i], ads[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("decrypt/fields=%d", n), func(b *testing.B) {
			b.SetBytes(int64(32 * n))
			b.ReportAllocs()
			for b.Loop() {
				for i := range n {
					if _, err := a.Decrypt(cts[i], ads[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkSealCold is the first Seal of a new subject: generate a keyset,
// wrap it with the local KEK, store it, then seal 6 fields.
func BenchmarkSealCold(b *testing.B) {
	run := func(b *testing.B, store keystore.Store) {
		ctx := context.Background()
		p := newProtector(b, store)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			v := newFields6("new-subject-" + strconv.Itoa(i))
			if err := p.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("store=memory", func(b *testing.B) { run(b, memory.New()) })
	b.Run("store=sqlite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "keys.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
}
