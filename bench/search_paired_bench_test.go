package bench

import (
	"context"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
)

// BenchmarkSearchSealPaired is BenchmarkSearchSeal measured in alternating
// batches (pairedRatio): Seal of the six fields with two blind indexes
// against the same six fields without them, one Protector, the same
// subject. x-floor is indexes=2 / indexes=0 (issue 9's goal: ≤ 1.4×).
func BenchmarkSearchSealPaired(b *testing.B) {
	ctx := context.Background()
	p := newProtector(b, memory.New())
	plain0, plain2 := newFields6("subject-1"), newFields6Indexed("subject-1")
	w0, w2 := plain0, plain2
	if err := p.Seal(ctx, &w0); err != nil {
		b.Fatal(err)
	}
	if err := p.Seal(ctx, &w2); err != nil {
		b.Fatal(err)
	}
	pairedRatio(b, func() {
		v := plain2
		if err := p.Seal(ctx, &v); err != nil {
			b.Fatal(err)
		}
	}, func() {
		v := plain0
		if err := p.Seal(ctx, &v); err != nil {
			b.Fatal(err)
		}
	})
}
