package bench

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Typed6 has six typed fields, one of each common kind.
type Typed6 struct {
	ID     string `pii:"subject"`
	Born   pii.Sealed[time.Time]
	Salary pii.Sealed[int64]
	Rate   pii.Sealed[float64]
	Remote pii.Sealed[bool]
	Name   pii.Sealed[string]
	Photo  pii.Sealed[[]byte]
}

var (
	typedBorn  = time.Date(1815, 12, 10, 8, 30, 0, 0, time.UTC)
	typedName  = "person01.full-name@example-mail" // 30 bytes, 32 with the encoding header
	typedPhoto = []byte("0123456789abcdef0123456789abcdef")
)

func newTyped6(id string) Typed6 {
	return Typed6{
		ID:     id,
		Born:   pii.NewSealed(typedBorn),
		Salary: pii.NewSealed(int64(120_000)),
		Rate:   pii.NewSealed(0.375),
		Remote: pii.NewSealed(true),
		Name:   pii.NewSealed(typedName),
		Photo:  pii.NewSealed(typedPhoto),
	}
}

// typedFloor is the work Seal and Open of a Typed6 are compared with: six
// raw Tink AES-256-GCM calls on the same encodings, written by hand (no
// reflection), with the same associated data, and the same text envelope
// (base64) around each ciphertext. BenchmarkTyped times it on its own,
// BenchmarkTypedVsFloor in alternating batches.
type typedFloor struct {
	b       *testing.B
	a       tink.AEAD
	ads     [6][]byte
	texts   [6]string
	pt, out []byte
	scratch []byte
	sink    struct {
		t time.Time
		n int64
		f float64
		x bool
		s string
		y []byte
	}
}

func newTypedFloor(b *testing.B) *typedFloor {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		b.Fatal(err)
	}
	f := &typedFloor{b: b, a: a}
	for i, n := range []string{"Born", "Salary", "Rate", "Remote", "Name", "Photo"} {
		f.ads[i] = envelope.AppendAssociatedData(nil, "subject-1", "Typed6", n)
	}
	f.encrypt() // so that decrypt has texts to open
	return f
}

// encode writes value i of a Typed6 as valuecodec does, without reflection.
func (f *typedFloor) encode(dst []byte, i int) []byte {
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

// encrypt is the floor of Seal: encode, encrypt and envelope six values.
func (f *typedFloor) encrypt() {
	for i := range 6 {
		f.pt = f.encode(f.pt[:0], i)
		ct, err := f.a.Encrypt(f.pt, f.ads[i])
		if err != nil {
			f.b.Fatal(err)
		}
		f.out = envelope.AppendText(f.out[:0], envelope.V1, envelope.Randomized, ct)
		f.texts[i] = string(f.out)
	}
}

// decrypt is the floor of Open: parse, decrypt and decode six values.
func (f *typedFloor) decrypt() {
	for i := range 6 {
		_, _, ct, err := envelope.ParseText(f.texts[i], f.scratch[:0])
		if err != nil {
			f.b.Fatal(err)
		}
		pt, err := f.a.Decrypt(ct, f.ads[i])
		if err != nil {
			f.b.Fatal(err)
		}
		p := pt[2:]
		switch i {
		case 0:
			f.sink.t = time.Unix(int64(binary.BigEndian.Uint64(p)), int64(binary.BigEndian.Uint32(p[8:]))).UTC()
		case 1:
			f.sink.n = int64(binary.BigEndian.Uint64(p))
		case 2:
			f.sink.f = math.Float64frombits(binary.BigEndian.Uint64(p))
		case 3:
			f.sink.x = p[0] == 1
		case 4:
			f.sink.s = string(p)
		default:
			f.sink.y = append([]byte(nil), p...)
		}
	}
}

// BenchmarkTyped compares, in one run, Seal and Open of a struct of six
// typed fields with the floor (typedFloor).
func BenchmarkTyped(b *testing.B) {
	ctx := context.Background()
	p := newProtector(b, memory.New())
	plain := newTyped6("subject-1")
	sealed := plain
	if err := p.Seal(ctx, &sealed); err != nil {
		b.Fatal(err)
	}
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := plain
			if err := p.Seal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := sealed
			if err := p.Open(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tink-encrypt", func(b *testing.B) {
		f := newTypedFloor(b)
		b.ReportAllocs()
		for b.Loop() {
			f.encrypt()
		}
	})
	b.Run("tink-decrypt", func(b *testing.B) {
		f := newTypedFloor(b)
		b.ReportAllocs()
		for b.Loop() {
			f.decrypt()
		}
	})
}
