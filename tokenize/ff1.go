package tokenize

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"sync"
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

	// Alphabet mapping. ASCII alphabets use the tables; others the map.
	ascii     bool
	fromASCII [256]int32 // character -> numeral, -1 if absent
	toASCII   []byte     // numeral -> character
	fromRune  map[rune]uint16
	toRune    []rune

	// forceBig makes every call take the math/big path (tests only).
	forceBig bool
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
func (f *FF1) MinLength() int {
	n, d := 0, uint64(1)
	for d < MinDomain {
		d *= uint64(f.radix)
		n++
	}
	return max(n, 2)
}

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
const stackNumerals = 64

func (f *FF1) crypt(encrypt bool, tweak []byte, s string) (string, error) {
	var stack [stackNumerals]uint16
	x, err := f.appendNumerals(stack[:0], s)
	if err != nil {
		return "", err
	}
	if err := f.CryptNumerals(encrypt, tweak, x); err != nil {
		return "", err
	}
	if f.ascii {
		var out [stackNumerals]byte
		buf := out[:0]
		if len(x) > stackNumerals {
			buf = make([]byte, 0, len(x))
		}
		for _, d := range x {
			buf = append(buf, f.toASCII[d])
		}
		return string(buf), nil
	}
	runes := make([]rune, len(x))
	for i, d := range x {
		runes[i] = f.toRune[d]
	}
	return string(runes), nil
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
// for callers that keep numerals rather than text.
func (f *FF1) CryptNumerals(encrypt bool, tweak []byte, x []uint16) error {
	n := len(x)
	if n > MaxLength {
		return ErrTooLong
	}
	if n < 2 || !domainAtLeast(f.radix, n, MinDomain) {
		return ErrDomainTooSmall
	}
	for i, d := range x {
		if uint32(d) >= f.radix {
			return &InputError{Pos: i}
		}
	}
	v := n - n/2
	if mv, ok := pow64(f.radix, v); ok && !f.forceBig {
		f.cryptFast(encrypt, tweak, x, mv)
		return nil
	}
	f.cryptBig(encrypt, tweak, x)
	return nil
}

// domainAtLeast reports whether radix^n >= min.
func domainAtLeast(radix uint32, n int, min uint64) bool {
	d := uint64(1)
	for range n {
		d *= uint64(radix)
		if d >= min {
			return true
		}
	}
	return false
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

// cbcMAC runs AES-CBC-MAC (the PRF of FF1) from state over whole blocks.
func (f *FF1) cbcMAC(state *[16]byte, data []byte) {
	for len(data) >= 16 {
		// XOR a block in two 64-bit words (byte order does not matter
		// for XOR, as long as loads and stores agree).
		s0 := binary.LittleEndian.Uint64(state[0:8]) ^ binary.LittleEndian.Uint64(data[0:8])
		s1 := binary.LittleEndian.Uint64(state[8:16]) ^ binary.LittleEndian.Uint64(data[8:16])
		binary.LittleEndian.PutUint64(state[0:8], s0)
		binary.LittleEndian.PutUint64(state[8:16], s1)
		f.block.Encrypt(state[:], state[:])
		data = data[16:]
	}
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

// cryptFast is FF1 when radix^v < 2^64, so that both halves and both moduli
// are machine integers. The halves stay integers across all ten rounds:
// NUM(STR(c)) = c, so numerals are converted only on entry and exit.
func (f *FF1) cryptFast(encrypt bool, tweak []byte, x []uint16, mv uint64) {
	n := len(x)
	u := n / 2
	mu, _ := pow64(f.radix, u)
	a := numUint(x[:u], f.radix)
	b := numUint(x[u:], f.radix)

	// b bytes hold NUM(B); the spec's ceil(ceil(v*log2(radix))/8) equals
	// the byte length of radix^v - 1.
	blen := (bits.Len64(mv-1) + 7) / 8
	d := 4*((blen+3)/4) + 4 // at most 12, so S is the first d bytes of R
	t := len(tweak)
	pad := mod(-t-blen-1, 16)
	qlen := t + pad + 1 + blen

	// The PRF input is P || Q with Q = T || 0^pad || i || NUM(B). P and the
	// whole blocks of T || 0^pad are the same in every round: run the
	// CBC-MAC over them once.
	p := f.header(u, n, t)
	// The MAC states go to cipher.Block.Encrypt, an interface call, so the
	// compiler would move them to the heap on every call: borrow them.
	mac := macPool.Get().(*macState)
	defer macPool.Put(mac)
	state, st := &mac.prefix, &mac.round
	*state = [16]byte{}
	f.cbcMAC(state, p[:])
	fixed := (t + pad) / 16 * 16
	var qstack [64]byte
	q := qstack[:0]
	if qlen > len(qstack) {
		q = make([]byte, 0, qlen)
	}
	q = append(q, tweak...)
	q = q[:qlen]
	clear(q[t:])
	f.cbcMAC(state, q[:fixed])
	varPart := q[fixed:]

	for r := range 10 {
		i := r
		if !encrypt {
			i = 9 - r
		}
		// Encryption feeds B to the PRF, decryption A: the half that the
		// round does not change.
		in := b
		if !encrypt {
			in = a
		}
		q[qlen-blen-1] = byte(i)
		putUintBE(q[qlen-blen:], in)
		*st = *state
		f.cbcMAC(st, varPart)

		// y = NUM(S) with S the first d <= 12 bytes of R: at most 96 bits.
		var hi, lo uint64
		if d > 8 {
			hi = uint64(binary.BigEndian.Uint32(st[0:4])) // d == 12
			lo = binary.BigEndian.Uint64(st[4:12])
		} else {
			lo = binary.BigEndian.Uint64(st[0:8])
		}
		m := mu
		if i%2 == 1 {
			m = mv
		}
		y := bits.Rem64(hi, lo, m)
		if encrypt {
			c := a + y // a, y < m < 2^64; fold the overflow back mod m
			if c < a || c >= m {
				c -= m
			}
			a, b = b, c
		} else {
			c := b - y
			if b < y {
				c += m
			}
			b, a = a, c
		}
	}
	strUint(x[:u], a, f.radix)
	strUint(x[u:], b, f.radix)
}

// macState holds the CBC-MAC states of one cryptFast call.
type macState struct{ prefix, round [16]byte }

var macPool = sync.Pool{New: func() any { return new(macState) }}

func mod(a, m int) int {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

func numUint(x []uint16, radix uint32) uint64 {
	var v uint64
	for _, d := range x {
		v = v*uint64(radix) + uint64(d)
	}
	return v
}

func strUint(dst []uint16, v uint64, radix uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = uint16(v % uint64(radix))
		v /= uint64(radix)
	}
}

// putUintBE writes v big-endian into all of dst (len(dst) <= 8).
func putUintBE(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte(v)
		v >>= 8
	}
}

// cryptBig is FF1 as the standard writes it, with math/big: for inputs
// whose halves do not fit in 64 bits. It is also the reference the fast
// path is tested against.
func (f *FF1) cryptBig(encrypt bool, tweak []byte, x []uint16) {
	n := len(x)
	u := n / 2
	radix := big.NewInt(int64(f.radix))
	mu := new(big.Int).Exp(radix, big.NewInt(int64(u)), nil)
	mv := new(big.Int).Exp(radix, big.NewInt(int64(n-u)), nil)
	a := numBig(x[:u], radix)
	b := numBig(x[u:], radix)

	blen := (new(big.Int).Sub(mv, big.NewInt(1)).BitLen() + 7) / 8
	d := 4*((blen+3)/4) + 4
	t := len(tweak)
	pad := mod(-t-blen-1, 16)
	p := f.header(u, n, t)
	q := make([]byte, t+pad+1+blen)
	copy(q, tweak)
	numBytes := make([]byte, blen)
	s := make([]byte, (d+15)/16*16)
	y, c := new(big.Int), new(big.Int)

	for r := range 10 {
		i := r
		if !encrypt {
			i = 9 - r
		}
		in := b
		if !encrypt {
			in = a
		}
		q[t+pad] = byte(i)
		in.FillBytes(numBytes)
		copy(q[t+pad+1:], numBytes)
		var R [16]byte
		f.cbcMAC(&R, p[:])
		f.cbcMAC(&R, q)
		// S = R || CIPH(R xor [1]) || CIPH(R xor [2]) || ..., first d bytes.
		copy(s, R[:])
		for j := 1; j*16 < d; j++ {
			var blk [16]byte
			blk = R
			binary.BigEndian.PutUint64(blk[8:], binary.BigEndian.Uint64(R[8:])^uint64(j))
			f.block.Encrypt(s[j*16:], blk[:])
		}
		y.SetBytes(s[:d])
		m := mu
		if i%2 == 1 {
			m = mv
		}
		if encrypt {
			c.Add(a, y).Mod(c, m)
			a, b = b, new(big.Int).Set(c)
		} else {
			c.Sub(b, y).Mod(c, m) // Mod is Euclidean: never negative
			b, a = a, new(big.Int).Set(c)
		}
	}
	strBig(x[:u], a, radix)
	strBig(x[u:], b, radix)
}

func numBig(x []uint16, radix *big.Int) *big.Int {
	v := new(big.Int)
	digit := new(big.Int)
	for _, d := range x {
		v.Mul(v, radix).Add(v, digit.SetUint64(uint64(d)))
	}
	return v
}

func strBig(dst []uint16, v *big.Int, radix *big.Int) {
	v = new(big.Int).Set(v)
	rem := new(big.Int)
	for i := len(dst) - 1; i >= 0; i-- {
		v.QuoRem(v, radix, rem)
		dst[i] = uint16(rem.Uint64())
	}
}
