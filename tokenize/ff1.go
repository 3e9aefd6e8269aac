package tokenize

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Limits of FF1 as this package implements it.
const (
	// MinDomain is the smallest domain FF1 may be used on: radix^length
	// must be at least this (NIST SP 800-38G Rev. 1, section 5.2).
	MinDomain = 1_000_000
	// MaxLength is the longest input, in characters. The standard allows up
	// to 2^32-1; this package refuses more than 4,096, which bounds the cost
	// of one call (long inputs take the math/big path, whose cost grows with
	// the square of the length) and is far more than any personal-data value
	// needs.
	MaxLength = 4096
	// MaxRadix is the largest alphabet: 2^16 characters.
	MaxRadix = 1 << 16
)

// Errors. Messages never include the input.
var (
	ErrInvalidKey      = errors.New("tokenize: key must be 16, 24 or 32 bytes")
	ErrInvalidAlphabet = errors.New("tokenize: invalid alphabet")
	ErrDomainTooSmall  = errors.New("tokenize: domain too small (radix^length < 1,000,000)")
	ErrTooLong         = errors.New("tokenize: input too long")
	ErrNotInAlphabet   = errors.New("tokenize: character not in the alphabet")
	ErrInvalidUTF8     = errors.New("tokenize: input is not valid UTF-8")
)

// InputError reports an input character that is not in the alphabet, by
// position (in characters, from 0), never by value.
type InputError struct {
	Pos int
}

func (e *InputError) Error() string {
	return fmt.Sprintf("tokenize: character %d is not in the alphabet", e.Pos)
}

func (e *InputError) Unwrap() error { return ErrNotInAlphabet }

// FF1 is the FF1 format-preserving cipher of NIST SP 800-38G Rev. 1 over one
// alphabet, with one AES key. It is immutable after construction and safe
// for concurrent use.
type FF1 struct {
	block cipher.Block
	radix uint32
	div   radixDiv
	// pow64[k] = radix^k for every k with radix^k < 2^64, pow128 likewise
	// below 2^128: a call looks its moduli up rather than computing them.
	pow64  []uint64
	pow128 []u128
	minLen int

	// Alphabet mapping. ASCII alphabets use the tables; others the map.
	ascii     bool
	fromASCII [256]int32 // character -> numeral, -1 if absent
	toASCII   []byte     // numeral -> character
	fromRune  map[rune]uint16
	toRune    []rune

	// forceBig makes every call take the math/big path, force128 the
	// 128-bit path where the halves fit (tests only).
	forceBig, force128 bool
}

// NewFF1 returns an FF1 cipher with key over alphabet, whose characters
// (Unicode code points, all different) are the numerals 0, 1, 2, ... in
// order. The radix is the alphabet's length, 2 to 65,536.
func NewFF1(key Key, alphabet string) (*FF1, error) {
	block, err := aes.NewCipher(key.b)
	if err != nil || len(key.b) == 0 {
		return nil, ErrInvalidKey
	}
	f := &FF1{block: block, ascii: true}
	for i := range f.fromASCII {
		f.fromASCII[i] = -1
	}
	runes := []rune(alphabet)
	if len(runes) < 2 || len(runes) > MaxRadix {
		return nil, fmt.Errorf("%w: need 2 to %d characters, have %d", ErrInvalidAlphabet, MaxRadix, len(runes))
	}
	if !utf8.ValidString(alphabet) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrInvalidAlphabet)
	}
	seen := make(map[rune]bool, len(runes))
	for _, r := range runes {
		if seen[r] {
			return nil, fmt.Errorf("%w: a character appears twice", ErrInvalidAlphabet)
		}
		seen[r] = true
		if r >= utf8.RuneSelf {
			f.ascii = false
		}
	}
	f.radix = uint32(len(runes))
	f.div = newRadixDiv(f.radix)
	for k := 0; ; k++ {
		p, ok := pow64(f.radix, k)
		if !ok {
			break
		}
		f.pow64 = append(f.pow64, p)
	}
	for k := 0; ; k++ {
		p, ok := pow128(f.radix, k)
		if !ok {
			break
		}
		f.pow128 = append(f.pow128, p)
	}
	for f.minLen < 2 || f.pow64[f.minLen] < MinDomain {
		f.minLen++
	}
	if f.ascii {
		f.toASCII = []byte(alphabet)
		for i, c := range f.toASCII {
			f.fromASCII[c] = int32(i)
		}
	} else {
		f.toRune = runes
		f.fromRune = make(map[rune]uint16, len(runes))
		for i, r := range runes {
			f.fromRune[r] = uint16(i)
		}
	}
	return f, nil
}

// Radix returns the size of the alphabet.
func (f *FF1) Radix() int { return int(f.radix) }

// MinLength returns the shortest input this cipher accepts: the least n
// with radix^n >= MinDomain.
func (f *FF1) MinLength() int { return f.minLen }

// Encrypt enciphers plaintext, a string over the alphabet, under tweak (of
// any length, possibly empty). The result has the same length and alphabet.
func (f *FF1) Encrypt(tweak []byte, plaintext string) (string, error) {
	return f.crypt(true, tweak, plaintext)
}

// Decrypt deciphers what Encrypt produced with the same tweak.
func (f *FF1) Decrypt(tweak []byte, ciphertext string) (string, error) {
	return f.crypt(false, tweak, ciphertext)
}

// stackNumerals is how many numerals a call handles without allocating.
const stackNumerals = 128

func (f *FF1) crypt(encrypt bool, tweak []byte, s string) (string, error) {
	if f.ascii && len(s) > MaxLength {
		return "", ErrTooLong // before anything is allocated
	}
	var stack [stackNumerals]uint16
	x := stack[:0]
	if len(s) > stackNumerals {
		// One allocation: at most one numeral per byte.
		x = make([]uint16, 0, min(len(s), MaxLength))
	}
	x, err := f.appendNumerals(x, s)
	if err != nil {
		return "", err
	}
	if err := f.CryptNumerals(encrypt, tweak, x); err != nil {
		return "", err
	}
	// The result is built in place: one allocation.
	var out strings.Builder
	if f.ascii {
		out.Grow(len(x))
		for _, d := range x {
			out.WriteByte(f.toASCII[d])
		}
		return out.String(), nil
	}
	size := 0
	for _, d := range x {
		size += utf8.RuneLen(f.toRune[d])
	}
	out.Grow(size)
	for _, d := range x {
		out.WriteRune(f.toRune[d])
	}
	return out.String(), nil
}

// appendNumerals converts s to numerals, appended to dst.
func (f *FF1) appendNumerals(dst []uint16, s string) ([]uint16, error) {
	if f.ascii {
		if len(s) > MaxLength {
			return nil, ErrTooLong
		}
		for i := 0; i < len(s); i++ {
			d := f.fromASCII[s[i]]
			if d < 0 {
				return nil, &InputError{Pos: i}
			}
			dst = append(dst, uint16(d))
		}
		return dst, nil
	}
	pos := 0
	for i, r := range s {
		if r == utf8.RuneError {
			// An invalid byte decodes to U+FFFD, which the alphabet may
			// hold: the input would not survive the round trip.
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return nil, ErrInvalidUTF8
			}
		}
		d, ok := f.fromRune[r]
		if !ok {
			return nil, &InputError{Pos: pos}
		}
		if pos++; pos > MaxLength {
			return nil, ErrTooLong
		}
		dst = append(dst, d)
	}
	return dst, nil
}

// CryptNumerals enciphers (encrypt) or deciphers x in place: x is a string of
// numerals, each less than the radix. This is the allocation-free interface
// for callers that keep numerals rather than text (inputs whose halves fit
// in 128 bits; longer ones allocate a little on first use, then reuse).
func (f *FF1) CryptNumerals(encrypt bool, tweak []byte, x []uint16) error {
	n := len(x)
	if n > MaxLength {
		return ErrTooLong
	}
	if n < f.minLen { // radix^n < MinDomain
		return ErrDomainTooSmall
	}
	for i, d := range x {
		if uint32(d) >= f.radix {
			return &InputError{Pos: i}
		}
	}
	v := n - n/2
	if !f.forceBig {
		if v < len(f.pow64) && !f.force128 {
			f.cryptFast(encrypt, tweak, x, f.pow64[v])
			return nil
		}
		if v < len(f.pow128) {
			f.crypt128(encrypt, tweak, x, f.pow128[v])
			return nil
		}
	}
	f.cryptBig(encrypt, tweak, x)
	return nil
}

// pow64 returns radix^e if it is below 2^64.
func pow64(radix uint32, e int) (uint64, bool) {
	p := uint64(1)
	for range e {
		hi, lo := bits.Mul64(p, uint64(radix))
		if hi != 0 {
			return 0, false
		}
		p = lo
	}
	return p, true
}

// numLen is b of the standard, ceil(ceil(v*log2(radix))/8), given
// bitsOfMax, the bit length of radix^v - 1 (which is ceil(v*log2(radix))).
func numLen(bitsOfMax int) int { return (bitsOfMax + 7) / 8 }

// layout is the shape of one call's PRF input P || Q, where
// Q = T || 0^pad || [i] || [NUM]_b, in bytes.
type layout struct {
	u, n, t int
	b       int // bytes of NUM in Q
	d       int // bytes of S
	qlen    int // len(Q), a multiple of 16 with P
	fixed   int // Q[:fixed]: whole blocks that are the same in every round
}

func newLayout(radix uint32, n, t, b int) layout {
	l := layout{u: n / 2, n: n, t: t, b: b}
	l.d = 4*((b+3)/4) + 4
	pad := mod(-t-b-1, 16)
	l.qlen = t + pad + 1 + b
	l.fixed = (t + pad) / 16 * 16
	return l
}

// header returns P, the first block of every round's PRF input.
func (f *FF1) header(u, n, t int) [16]byte {
	var p [16]byte
	p[0], p[1], p[2] = 1, 2, 1
	p[3], p[4], p[5] = byte(f.radix>>16), byte(f.radix>>8), byte(f.radix)
	p[6] = 10
	p[7] = byte(u)
	binary.BigEndian.PutUint32(p[8:], uint32(n))
	binary.BigEndian.PutUint32(p[12:], uint32(t))
	return p
}

// prefix sets state to the CBC-MAC of P and of Q[:fixed], the whole blocks
// of T || 0^pad: the part of the PRF input that every round shares. The
// tweak is read in place, never copied.
func (f *FF1) prefix(state *[16]byte, l layout, tweak []byte) {
	*state = f.header(l.u, l.n, l.t)
	f.block.Encrypt(state[:], state[:])
	full := min(l.fixed, l.t) / 16 * 16
	f.cbcMAC(state, tweak[:full])
	if full < l.fixed { // one last block: the tweak's tail, then zeros
		var blk [16]byte
		copy(blk[:], tweak[full:])
		xorBlock(state, &blk)
		f.block.Encrypt(state[:], state[:])
	}
}

// tail returns the bytes of Q from fixed up to where the round number goes
// (the tweak's last bytes, then zeros) as the first block of the rest of Q,
// big-endian in two words.
func tail(l layout, tweak []byte) (w0, w1 uint64) {
	var blk [16]byte
	if l.t > l.fixed {
		copy(blk[:], tweak[l.fixed:])
	}
	return binary.BigEndian.Uint64(blk[0:8]), binary.BigEndian.Uint64(blk[8:16])
}

// cbcMAC runs AES-CBC-MAC (the PRF of FF1) from state over whole blocks.
func (f *FF1) cbcMAC(state *[16]byte, data []byte) {
	for len(data) >= 16 {
		xorBlock(state, (*[16]byte)(data))
		f.block.Encrypt(state[:], state[:])
		data = data[16:]
	}
}

// xorBlock sets state ^= data, in two 64-bit words (byte order does not
// matter for XOR, as long as loads and stores agree).
func xorBlock(state, data *[16]byte) {
	s0 := binary.LittleEndian.Uint64(state[0:8]) ^ binary.LittleEndian.Uint64(data[0:8])
	s1 := binary.LittleEndian.Uint64(state[8:16]) ^ binary.LittleEndian.Uint64(data[8:16])
	binary.LittleEndian.PutUint64(state[0:8], s0)
	binary.LittleEndian.PutUint64(state[8:16], s1)
}

// encryptWords sets blk to the big-endian words w0, w1 and enciphers it in
// place: one PRF round on a block computed in registers.
func (f *FF1) encryptWords(blk *[16]byte, w0, w1 uint64) {
	binary.BigEndian.PutUint64(blk[0:8], w0)
	binary.BigEndian.PutUint64(blk[8:16], w1)
	f.block.Encrypt(blk[:], blk[:])
}

func mod(a, m int) int {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}
