package bench

import (
	"crypto/aes"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// BenchmarkAESBlock is the floor FF1 is measured against: one AES-128 block
// encryption. A short FF1 call costs 11 of them (the header, then one per
// round), so FF1's target is stated as a multiple of 11 blocks.
func BenchmarkAESBlock(b *testing.B) {
	c, _ := aes.NewCipher(make([]byte, 16))
	var blk [16]byte
	for b.Loop() {
		c.Encrypt(blk[:], blk[:])
	}
}

func benchFF1(b *testing.B, alphabet, input string, tweak []byte, decrypt bool) {
	f, err := tokenize.NewFF1(tokenize.GenerateKey(), alphabet)
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

func BenchmarkFF1(b *testing.B) {
	tweak8 := []byte("tweak-08")
	cases := []struct {
		name, alphabet, input string
		tweak                 []byte
	}{
		{"ssn9", digits, "123456789", nil},
		{"pan16", digits, "4111111111111111", nil},
		{"pan16-tweak8", digits, "4111111111111111", tweak8},
		{"radix36-20", "0123456789abcdefghijklmnopqrstuvwxyz", "abcdefghij0123456789", nil},
		{"digits70", digits, "0123456789012345678901234567890123456789012345678901234567890123456789", nil},
	}
	for _, c := range cases {
		b.Run("encrypt/"+c.name, func(b *testing.B) { benchFF1(b, c.alphabet, c.input, c.tweak, false) })
		b.Run("decrypt/"+c.name, func(b *testing.B) { benchFF1(b, c.alphabet, c.input, c.tweak, true) })
	}
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
