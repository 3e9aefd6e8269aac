package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Vaulted tokens against FF1 tokens of the same format and value: the
// vaulted field uses vault=always so that the 10-digit value, which FF1
// serves, goes to the vault too.

type ff1Account struct {
	ID      string `pii:"subject"`
	Account string `pii:"token,format=digits"`
}

type vaultAccount struct {
	ID      string `pii:"subject"`
	Account string `pii:"token,format=digits,vault=always"`
}

const benchAccount = "1234567890"

func vaultStores(b *testing.B) map[string]func(b *testing.B) keystore.Store {
	out := stores(b)
	out["memory"] = func(*testing.B) keystore.Store { return memory.New() }
	return out
}

func BenchmarkVaultToken(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			store := vaultStores(b)[name](b)
			p, err := pii.New(ctx, kmstest.New("bench:1"), store)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(p.Close)
			b.Run("ff1/seal", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					v := ff1Account{ID: "s", Account: benchAccount}
					if err := p.Seal(ctx, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("vault/seal", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					v := vaultAccount{ID: "s", Account: benchAccount}
					if err := p.Seal(ctx, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
			f := ff1Account{ID: "s", Account: benchAccount}
			v := vaultAccount{ID: "s", Account: benchAccount}
			if err := p.Seal(ctx, &f); err != nil {
				b.Fatal(err)
			}
			if err := p.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
			b.Run("ff1/open", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					w := f
					if err := p.Open(ctx, &w); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("vault/open", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					w := v
					if err := p.Open(ctx, &w); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkVaultSealAll seals 10,000 records with one vaulted field (100
// subjects, keys warm): SealAll, which stores every mapping in one
// PutTokens call, against Seal record by record (one call each).
func BenchmarkVaultSealAll(b *testing.B) {
	ctx := context.Background()
	const n = 10_000
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			store := vaultStores(b)[name](b)
			p, err := pii.New(ctx, kmstest.New("bench:1"), store)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(p.Close)
			recs := make([]vaultAccount, n)
			fresh := func() {
				for i := range recs {
					recs[i] = vaultAccount{ID: fmt.Sprint("subject-", i%100), Account: benchAccount}
				}
			}
			fresh()
			if err := p.SealAll(ctx, recs[:100]); err != nil { // create the keys
				b.Fatal(err)
			}
			b.Run("batched", func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					fresh()
					b.StartTimer()
					if err := p.SealAll(ctx, recs); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("one-by-one", func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					fresh()
					b.StartTimer()
					for i := range recs {
						if err := p.Seal(ctx, &recs[i]); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		})
	}
}
