package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"

	"github.com/fieldcrypt/fieldcrypt/internal/vaulttest"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// unbatched hides a KEK's batch methods, so that SealAll wraps one key per
// Vault call: the comparison for batching.
type unbatched struct{ kms.KEK }

func vaultKEK(b *testing.B) *vault.KEK {
	b.Helper()
	c := vaulttest.Client(b)
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: vaulttest.NewKey(b, c)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(k.Close)
	return k
}

// BenchmarkVaultSealAllCold seals N records of N new subjects with one
// SealAll against the real Vault: every subject needs a key, wrapped by
// Transit. Batched: 250 keys per Transit call; unbatched: one per call.
func BenchmarkVaultSealAllCold(b *testing.B) {
	vaulttest.Require(b)
	for _, n := range []int{1000, 10000} {
		for _, batched := range []bool{true, false} {
			b.Run(fmt.Sprintf("subjects=%d/batched=%v", n, batched), func(b *testing.B) {
				ctx := context.Background()
				var kek kms.KEK = vaultKEK(b)
				if !batched {
					kek = unbatched{kek}
				}
				run := 0
				for b.Loop() {
					b.StopTimer()
					p, err := pii.New(ctx, kek, memory.New())
					if err != nil {
						b.Fatal(err)
					}
					run++
					recs := make([]Fields6, n)
					for i := range recs {
						recs[i] = newFields6(fmt.Sprintf("r%d-s%d", run, i))
					}
					b.StartTimer()
					if err := p.SealAll(ctx, recs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
			})
		}
	}
}

// BenchmarkVaultSealWarm is Seal of a 6-field record whose subject key is
// cached: Vault is not called.
func BenchmarkVaultSealWarm(b *testing.B) {
	ctx := context.Background()
	p, err := pii.New(ctx, vaultKEK(b), memory.New())
	if err != nil {
		b.Fatal(err)
	}
	plain := newFields6("warm")
	v := plain
	if err := p.Seal(ctx, &v); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v = plain
		if err := p.Seal(ctx, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// tinkRemote adapts the Vault KEK to the context-free tink.AEAD that
// Tink's KMSEnvelopeAEAD wraps its data keys with.
type tinkRemote struct{ k *vault.KEK }

func (t tinkRemote) Encrypt(pt, ad []byte) ([]byte, error) {
	return t.k.Encrypt(context.Background(), pt, ad)
}

func (t tinkRemote) Decrypt(ct, ad []byte) ([]byte, error) {
	return t.k.Decrypt(context.Background(), ct, ad)
}

// BenchmarkVaultTinkEnvelope is the baseline: the same N records of 6
// fields, each field encrypted with Tink's KMSEnvelopeAEAD on the same
// Vault — a fresh data key per value, wrapped by one Transit call each.
func BenchmarkVaultTinkEnvelope(b *testing.B) {
	vaulttest.Require(b)
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			env := aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), tinkRemote{vaultKEK(b)})
			for b.Loop() {
				for i := range n {
					for f := range 6 {
						if _, err := env.Encrypt([]byte(value(f)), []byte(fmt.Sprint("subject-", i))); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
		})
	}
}
