package bench

import (
	"context"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
)

// BenchmarkTypedVsFloor is BenchmarkTyped measured in alternating batches
// (pairedRatio): Seal and Open of six typed fields against the same six
// raw Tink calls on the same encodings, associated data and text envelope
// (BenchmarkTyped's tink-encrypt and tink-decrypt). x-floor is the ratio,
// which holds on a busy machine where separate benchmarks' times do not.
func BenchmarkTypedVsFloor(b *testing.B) {
	ctx := context.Background()
	p := newProtector(b, memory.New())
	plain := newTyped6("subject-1")
	sealed := plain
	if err := p.Seal(ctx, &sealed); err != nil {
		b.Fatal(err)
	}
	f := newTypedFloor(b)
	b.Run("seal", func(b *testing.B) {
		pairedRatio(b, func() {
			v := plain
			if err := p.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}, f.encrypt)
	})
	b.Run("open", func(b *testing.B) {
		pairedRatio(b, func() {
			v := sealed
			if err := p.Open(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}, f.decrypt)
	})
}
