package bench

import (
	"crypto/aes"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// ff1Case is one FF1 benchmark input.
type ff1Case struct {
	name, alphabet, input string
	tweak                 []byte
}

var ff1Cases = []ff1Case{
	{"ssn9", digits, "123456789", nil},
	{"pan16", digits, "4111111111111111", nil},
	{"pan16-tweak8", digits, "4111111111111111", []byte("tweak-08")},
	{"radix36-20", "0123456789abcdefghijklmnopqrstuvwxyz", "abcdefghij0123456789", nil},
	{"digits40", digits, "0123456789012345678901234567890123456789", nil},
	{"digits70", digits, "0123456789012345678901234567890123456789012345678901234567890123456789", nil},
	{"digits100", digits, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", nil},
}

// ff1KeySizes are the AES key sizes FF1 is measured with, each against a
// floor of the same key size.
var ff1KeySizes = []struct {
	name  string
	bytes int
}{{"aes128", 16}, {"aes256", 32}}

// ff1Blocks is the number of AES block encryptions one FF1 call needs at
// the least, counted from SP 800-38G Rev. 1, Algorithm 7, for n numerals of
// radix under a t-byte tweak. The PRF input of round i is P || Q with
// Q = T || 0^pad || [i] || [NUM(B)]_b; P and the whole blocks of T || 0^pad
// are the same in all ten rounds, so their CBC-MAC is computed once per
// call; each round then MACs the rest of Q and, when d > 16, enciphers
// ceil(d/16) - 1 more blocks for S. Read literally (the whole of P || Q in
// every round), the standard costs 10 * (1 + qlen/16 + ceil(d/16) - 1)
// blocks: 20 instead of 11 for 16 digits.
func ff1Blocks(radix, n, t int) int {
	v := n - n/2
	rv := new(big.Int).Exp(big.NewInt(int64(radix)), big.NewInt(int64(v)), nil)
	b := (rv.Sub(rv, big.NewInt(1)).BitLen() + 7) / 8
	d := 4*((b+3)/4) + 4
	pad := ((-t-b-1)%16 + 16) % 16
	qlen := t + pad + 1 + b
	fixed := (t + pad) / 16 * 16
	return 1 + fixed/16 + 10*((qlen-fixed)/16+(d+15)/16-1)
}

// BenchmarkAESBlock is one AES-128 block encryption per op (crypto/aes
// through cipher.Block, in a dependent chain), as bench/run.sh expects it;
// BenchmarkAESBlockSizes has it per key size.
func BenchmarkAESBlock(b *testing.B) {
	c, _ := aes.NewCipher(make([]byte, 16))
	var blk [16]byte
	for b.Loop() {
		c.Encrypt(blk[:], blk[:])
	}
}

// BenchmarkAESBlockSizes is one AES block encryption per op, per key size.
func BenchmarkAESBlockSizes(b *testing.B) {
	for _, ks := range ff1KeySizes {
		b.Run(ks.name, func(b *testing.B) {
			c, _ := aes.NewCipher(make([]byte, ks.bytes))
			var blk [16]byte
			for b.Loop() {
				c.Encrypt(blk[:], blk[:])
			}
		})
	}
}

// BenchmarkFF1Floor is the floor of each BenchmarkFF1 case: exactly the
// AES block encryptions the call needs (ff1Blocks), with a key of the same
// size, in a dependent chain, through cipher.Block as FF1 calls it — and
// nothing else. BenchmarkFF1/<key>/<dir>/<case> divided by
// BenchmarkFF1Floor/<key>/<case> is FF1's cost over its crypto.
func BenchmarkFF1Floor(b *testing.B) {
	for _, ks := range ff1KeySizes {
		for _, c := range ff1Cases {
			n := len([]rune(c.input))
			blocks := ff1Blocks(len([]rune(c.alphabet)), n, len(c.tweak))
			b.Run(ks.name+"/"+c.name, func(b *testing.B) {
				ciph, _ := aes.NewCipher(make([]byte, ks.bytes))
				var blk [16]byte
				for b.Loop() {
					for range blocks {
						ciph.Encrypt(blk[:], blk[:])
					}
				}
				b.ReportMetric(float64(blocks), "blocks/op")
			})
		}
	}
}

func benchFF1(b *testing.B, keyBytes int, alphabet, input string, tweak []byte, decrypt bool) {
	key, _ := tokenize.NewKey(make([]byte, keyBytes))
	f, err := tokenize.NewFF1(key, alphabet)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := f.Encrypt(tweak, input)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if decrypt {
			_, err = f.Decrypt(tweak, ct)
		} else {
			_, err = f.Encrypt(tweak, input)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

const digits = "0123456789"

// BenchmarkFF1 is FF1 through the string API (Encrypt and Decrypt, which
// allocate the result), per key size and case; compare each with
// BenchmarkFF1Floor of the same key size and case.
func BenchmarkFF1(b *testing.B) {
	for _, ks := range ff1KeySizes {
		for _, c := range ff1Cases {
			b.Run(ks.name+"/encrypt/"+c.name, func(b *testing.B) { benchFF1(b, ks.bytes, c.alphabet, c.input, c.tweak, false) })
			b.Run(ks.name+"/decrypt/"+c.name, func(b *testing.B) { benchFF1(b, ks.bytes, c.alphabet, c.input, c.tweak, true) })
		}
	}
}

// BenchmarkFF1Parallel shares one FF1 cipher (AES-256, 16 digits, through
// the string API) among b.RunParallel's goroutines; run it with -cpu 1,2
// and compare the scaling with BenchmarkAESParallel's in the same run.
func BenchmarkFF1Parallel(b *testing.B) {
	key, _ := tokenize.NewKey(make([]byte, 32))
	f, err := tokenize.NewFF1(key, digits)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Encrypt(nil, "4111111111111111"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAESParallel is the floor of BenchmarkFF1Parallel: one shared
// AES-256 cipher.Block, 11 dependent block encryptions per op (what 16
// digits cost, ff1Blocks), each goroutine on its own 128-byte-aligned
// buffer so that they share no cache line.
func BenchmarkAESParallel(b *testing.B) {
	c, _ := aes.NewCipher(make([]byte, 32))
	blocks := ff1Blocks(10, 16, 0)
	b.RunParallel(func(pb *testing.PB) {
		buf := new([128]byte) // its own size class slot: 128-byte aligned
		blk := buf[:16]
		for pb.Next() {
			for range blocks {
				c.Encrypt(blk, blk)
			}
		}
	})
}

// BenchmarkTokenFormat measures each token format, tokenize and
// detokenize, on a typical value.
func BenchmarkTokenFormat(b *testing.B) {
	tk, err := tokenize.NewTokenizer(tokenize.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	tweak := []byte("fieldcrypt/token/v1\x00Card")
	cases := []struct {
		f     tokenize.Format
		value string
	}{
		{tokenize.Digits, "0012345678"},
		{tokenize.SSN, "078-05-1120"},
		{tokenize.PAN, "4111 1111 1111 1111"},
		{tokenize.Phone, "+442079460000"},
		{tokenize.Email, "ada.lovelace@example.com"},
		{tokenize.Alnum, "AB-1234-xyz"},
	}
	for _, c := range cases {
		tok, err := tk.Tokenize(c.f, tweak, c.value)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("tokenize/"+string(c.f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.Tokenize(c.f, tweak, c.value); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("detokenize/"+string(c.f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.Detokenize(c.f, tweak, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFF1Numerals is FF1 on numerals in place (CryptNumerals), the
// allocation-free interface: a 16-digit number, no tweak.
func BenchmarkFF1Numerals(b *testing.B) {
	f, err := tokenize.NewFF1(tokenize.GenerateKey(), digits)
	if err != nil {
		b.Fatal(err)
	}
	x := []uint16{4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	b.ReportAllocs()
	for b.Loop() {
		if err := f.CryptNumerals(true, nil, x); err != nil {
			b.Fatal(err)
		}
	}
}

// pairedRatio measures a against its floor in alternating batches of about
// 100 µs each and reports the median time per call of each (a-ns/op is
// also the ns/op) and the median of the per-batch ratios a/floor
// ("x-floor"). Batches next to each other see the same load from other
// processes, so the ratio holds on a busy machine where separate
// benchmarks' times do not.
func pairedRatio(b *testing.B, a, floor func()) {
	n := 1
	for {
		start := time.Now()
		for range n {
			a()
		}
		if time.Since(start) > 100*time.Microsecond {
			break
		}
		n *= 2
	}
	var ta, tf, ratios []float64
	for b.Loop() {
		start := time.Now()
		for range n {
			a()
		}
		mid := time.Now()
		for range n {
			floor()
		}
		da, df := mid.Sub(start).Seconds(), time.Since(mid).Seconds()
		ta, tf = append(ta, da*1e9/float64(n)), append(tf, df*1e9/float64(n))
		ratios = append(ratios, da/df)
	}
	b.ReportMetric(median(ta), "ns/op")
	b.ReportMetric(median(tf), "floor-ns/op")
	b.ReportMetric(median(ratios), "x-floor")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkFF1VsFloor is FF1 encryption (through the string API) against
// its floor (BenchmarkFF1Floor's dependent chain of exactly the AES blocks
// it needs, same key size), per key size and case, measured in alternating
// batches: x-floor is the cost of FF1 over its crypto.
func BenchmarkFF1VsFloor(b *testing.B) {
	for _, ks := range ff1KeySizes {
		for _, c := range ff1Cases {
			b.Run(ks.name+"/"+c.name, func(b *testing.B) {
				key, _ := tokenize.NewKey(make([]byte, ks.bytes))
				f, err := tokenize.NewFF1(key, c.alphabet)
				if err != nil {
					b.Fatal(err)
				}
				ciph, _ := aes.NewCipher(make([]byte, ks.bytes))
				blocks := ff1Blocks(len([]rune(c.alphabet)), len([]rune(c.input)), len(c.tweak))
				blk := new([16]byte)
				pairedRatio(b, func() {
					if _, err := f.Encrypt(c.tweak, c.input); err != nil {
						b.Fatal(err)
					}
				}, func() {
					for range blocks {
						ciph.Encrypt(blk[:], blk[:])
					}
				})
			})
		}
	}
}
