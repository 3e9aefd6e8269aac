package bench

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
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
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"Born", "Salary", "Rate", "Remote", "Name", "Photo"}
	ads := make([][]byte, len(names))
	for i, n := range names {
		ads[i] = envelope.AppendAssociatedData(nil, "subject-1", "Typed6", n)
	}
	encode := func(dst []byte, i int) []byte {
		switch i {
		case 0:
			dst = append(dst, 1, 't')
			dst = binary.BigEndian.AppendUint64(dst, uint64(typedBorn.Unix()))
			return binary.BigEndian.AppendUint32(dst, uint32(typedBorn.Nanosecond()))
		case 1:
			return binary.BigEndian.AppendUint64(append(dst, 1, 'i'), 120_000)
		case 2:
			return binary.BigEndian.AppendUint64(append(dst, 1, 'f'), math.Float64bits(0.375))
		case 3:
			return append(dst, 1, 'b', 1)
		case 4:
			return append(append(dst, 1, 's'), typedName...)
		}
		return append(append(dst, 1, 'y'), typedPhoto...)
	}
	var texts [6]string
	var pt, out []byte
	floorEnc := func() {
		for i := range 6 {
			pt = encode(pt[:0], i)
			ct, err := a.Encrypt(pt, ads[i])
			if err != nil {
				b.Fatal(err)
			}
			out = envelope.AppendText(out[:0], envelope.V1, envelope.Randomized, ct)
			texts[i] = string(out)
		}
	}
	floorEnc()
	var sink struct {
		t time.Time
		n int64
		f float64
		x bool
		s string
		y []byte
	}
	var scratch []byte
	floorDec := func() {
		for i := range 6 {
			_, _, ct, err := envelope.ParseText(texts[i], scratch[:0])
			if err != nil {
				b.Fatal(err)
			}
			pt, err := a.Decrypt(ct, ads[i])
			if err != nil {
				b.Fatal(err)
			}
			p := pt[2:]
			switch i {
			case 0:
				sink.t = time.Unix(int64(binary.BigEndian.Uint64(p)), int64(binary.BigEndian.Uint32(p[8:]))).UTC()
			case 1:
				sink.n = int64(binary.BigEndian.Uint64(p))
			case 2:
				sink.f = math.Float64frombits(binary.BigEndian.Uint64(p))
			case 3:
				sink.x = p[0] == 1
			case 4:
				sink.s = string(p)
			default:
				sink.y = append([]byte(nil), p...)
			}
		}
	}
	b.Run("seal", func(b *testing.B) {
		pairedRatio(b, func() {
			v := plain
			if err := p.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}, floorEnc)
	})
	b.Run("open", func(b *testing.B) {
		pairedRatio(b, func() {
			v := sealed
			if err := p.Open(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}, floorDec)
	})
}
