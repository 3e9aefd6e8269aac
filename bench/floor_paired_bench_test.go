package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
)

// BenchmarkSealOpenVsFloor is issue 14's floor for warm Seal and Open of
// string fields, measured in alternating ~100 µs batches (pairedRatio) so
// that x-floor holds on a busy machine. The floor does, per field, exactly
// what the text format cannot avoid: the same Tink AES-256-GCM call (a
// keyset of the same template, the same plaintext and associated data,
// built once) plus base64url (RawURLEncoding AppendEncode / AppendDecode)
// of its ciphertext, and the new string the field receives. It has no
// "fc1a." prefix, no key lookup, no walk, no validation: those are what
// x-floor measures.
func BenchmarkSealOpenVsFloor(b *testing.B) {
	b64 := base64.RawURLEncoding
	for _, n := range []int{1, 6} {
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
		texts := make([][]byte, n)
		for i := range n {
			pts[i] = []byte(value(i))
			ads[i] = envelope.AppendAssociatedData(nil, "subject-1", "Fields"+strconv.Itoa(n), fmt.Sprintf("F%02d", i))
			ct, err := a.Encrypt(pts[i], ads[i])
			if err != nil {
				b.Fatal(err)
			}
			texts[i] = b64.AppendEncode(nil, ct)
		}
		var out, scratch []byte
		var sink [6]string
		floorSeal := func() {
			for i := range n {
				ct, err := a.Encrypt(pts[i], ads[i])
				if err != nil {
					b.Fatal(err)
				}
				out = b64.AppendEncode(out[:0], ct)
				sink[i] = string(out)
			}
		}
		floorOpen := func() {
			for i := range n {
				ct, err := b64.AppendDecode(scratch[:0], texts[i])
				if err != nil {
					b.Fatal(err)
				}
				scratch = ct
				pt, err := a.Decrypt(ct, ads[i])
				if err != nil {
					b.Fatal(err)
				}
				sink[i] = string(pt)
			}
		}
		ctx := context.Background()
		p := newProtector(b, memory.New())
		seal, open := func() {}, func() {}
		switch n {
		case 1:
			plain := newFields1("subject-1")
			sealed := plain
			if err := p.Seal(ctx, &sealed); err != nil {
				b.Fatal(err)
			}
			seal = func() {
				v := plain
				if err := p.Seal(ctx, &v); err != nil {
					b.Fatal(err)
				}
			}
			open = func() {
				v := sealed
				if err := p.Open(ctx, &v); err != nil {
					b.Fatal(err)
				}
			}
		case 6:
			plain := newFields6("subject-1")
			sealed := plain
			if err := p.Seal(ctx, &sealed); err != nil {
				b.Fatal(err)
			}
			seal = func() {
				v := plain
				if err := p.Seal(ctx, &v); err != nil {
					b.Fatal(err)
				}
			}
			open = func() {
				v := sealed
				if err := p.Open(ctx, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("seal/fields=%d", n), func(b *testing.B) { pairedRatio(b, seal, floorSeal) })
		b.Run(fmt.Sprintf("open/fields=%d", n), func(b *testing.B) { pairedRatio(b, open, floorOpen) })
	}
}
