package tokenize

import (
	"encoding/binary"
	"math/big"
	"math/bits"
)

// bigScratch is the math/big path's working memory, kept with a pooled
// scratch so that a call reuses the numbers and buffers of an earlier one.
type bigScratch struct {
	a, b, c    big.Int // the halves, and the next one
	mu, mv     big.Int // radix^u, radix^v
	y, quo     big.Int // NUM(S), and the quotient of y / radix^m
	rem, t, pw big.Int // y mod radix^m; scratch
	q, s, txt  []byte  // Q after its shared prefix; S; digits of a half
}

// cryptBig is FF1 with math/big, for inputs whose halves do not fit in 128
// bits (more than 76 decimal digits). Like the fast paths, it keeps the
// halves as numbers across the rounds (NUM(STR(c)) = c), runs the CBC-MAC
// over P and the shared tweak blocks once per call, and borrows its numbers
// and buffers from the pool: after a first call of a length, it allocates
// little or nothing. Numerals are converted a machine word of digits at a
// time.
func (f *FF1) cryptBig(encrypt bool, tweak []byte, x []uint16) {
	n := len(x)
	u, v := n/2, n-n/2
	sc := scratchPool.Get().(*scratch)
	if sc.big == nil {
		sc.big = new(bigScratch)
	}
	z := sc.big
	f.powBig(&z.mu, z, u)
	z.mv.Set(&z.mu)
	if v > u {
		z.mv.Mul(&z.mu, z.pw.SetUint64(uint64(f.radix)))
	}
	f.numBig(&z.a, z, x[:u])
	f.numBig(&z.b, z, x[u:])
	blen := numLen(z.t.Sub(&z.mv, z.pw.SetUint64(1)).BitLen())
	l := newLayout(f.radix, n, len(tweak), blen)

	f.prefix(&sc.state, l, tweak)
	shared := sc.state
	// The rest of Q: the tweak's tail, zeros, [i], [NUM]_b.
	rest := l.qlen - l.fixed
	z.q = grow(z.q, rest)
	clear(z.q)
	if l.t > l.fixed {
		copy(z.q, tweak[l.fixed:])
	}
	iPos := rest - blen - 1
	sBlocks := (l.d + 15) / 16
	z.s = grow(z.s, 16*sBlocks)

	ru, rv := newReducer(&z.mu, z), newReducer(&z.mv, z)
	a, b, c := &z.a, &z.b, &z.c
	for r := range 10 {
		i := r
		in := b
		if !encrypt {
			i = 9 - r
			in = a
		}
		z.q[iPos] = byte(i)
		in.FillBytes(z.q[iPos+1:])
		sc.state = shared
		f.cbcMAC(&sc.state, z.q)
		// S = R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) || ...
		copy(z.s, sc.state[:])
		for j := 1; j < sBlocks; j++ {
			blk := (*[16]byte)(z.s[16*j:])
			*blk = sc.state
			binary.BigEndian.PutUint64(blk[8:], binary.BigEndian.Uint64(blk[8:])^uint64(j))
			f.block.Encrypt(blk[:], blk[:])
		}
		z.y.SetBytes(z.s[:l.d])
		m := &z.mu
		if i%2 == 1 {
			m = &z.mv
		}
		rd := &ru
		if i%2 == 1 {
			rd = &rv
		}
		rd.reduce(&z.rem, &z.y, z)
		if encrypt {
			c.Add(a, &z.rem)
			if c.Cmp(m) >= 0 {
				c.Sub(c, m)
			}
			a, b, c = b, c, a
		} else {
			c.Sub(b, &z.rem)
			if c.Sign() < 0 {
				c.Add(c, m)
			}
			b, a, c = a, c, b
		}
	}
	f.strBig(x[:u], a, z)
	f.strBig(x[u:], b, z)
	scratchPool.Put(sc)
}

// grow returns buf resized to n bytes, reusing its array if it can.
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

// wordDigits returns k, the most numerals whose value always fits in a
// uint64, and radix^k.
func (f *FF1) wordDigits() (int, uint64) {
	k := len(f.pow64) - 1
	return k, f.pow64[k]
}

// powBig sets dst = radix^e, a word of digits at a time.
func (f *FF1) powBig(dst *big.Int, z *bigScratch, e int) {
	k, _ := f.wordDigits()
	dst.SetUint64(1)
	for e > 0 {
		c := min(k, e)
		z.t.Mul(dst, z.pw.SetUint64(f.pow64[c]))
		dst.Set(&z.t)
		e -= c
	}
}

// numBig sets dst = NUM_radix(x), a word of digits at a time.
func (f *FF1) numBig(dst *big.Int, z *bigScratch, x []uint16) {
	k, _ := f.wordDigits()
	dst.SetUint64(0)
	for len(x) > 0 {
		c := min(k, len(x))
		z.t.Mul(dst, z.pw.SetUint64(f.pow64[c]))
		dst.Add(&z.t, z.pw.SetUint64(numUint(x[:c], f.radix)))
		x = x[c:]
	}
}

// strBig writes STR_radix(v) into dst; v is consumed. It divides off a
// word of digits at a time, which costs a word division per word of v per
// word of digits: quadratic. Beyond strBigLoopWords words, up to base 62,
// it uses big.Int's own conversion instead, which divides and conquers
// (and allocates a few temporaries).
func (f *FF1) strBig(dst []uint16, v *big.Int, z *bigScratch) {
	if f.radix <= big.MaxBase && len(v.Bits()) > strBigLoopWords {
		z.txt = v.Append(z.txt[:0], int(f.radix))
		pad := len(dst) - len(z.txt)
		clear(dst[:pad])
		for i, c := range z.txt {
			dst[pad+i] = digitValue(c)
		}
		return
	}
	k, p := f.wordDigits()
	z.pw.SetUint64(p)
	i := len(dst)
	for i > k {
		v.QuoRem(v, &z.pw, &z.rem)
		f.div.str(dst[i-k:i], z.rem.Uint64())
		i -= k
	}
	f.div.str(dst[:i], v.Uint64()) // v < radix^i
}

// strBigLoopWords is the size up to which strBig's word loop is faster
// than big.Int's conversion (which also switches to divide and conquer at
// 8 words).
const strBigLoopWords = 8

// digitValue is the value of one of big.Int's digits (bases up to 62):
// 0-9, then a-z, then A-Z.
func digitValue(c byte) uint16 {
	switch {
	case c <= '9':
		return uint16(c - '0')
	case c >= 'a':
		return uint16(c-'a') + 10
	default:
		return uint16(c-'A') + 36
	}
}

// reducer computes y mod m for the math/big path without a long division:
// the quotient of y = NUM(S) by m = radix^m is short (S has at most 7 bytes
// more than NUM(B)), so one word division of y's top bits by m's top word
// estimates it from below, one multiplication by a word and a subtraction
// give the remainder up to a few m, and subtractions finish.
type reducer struct {
	m     *big.Int
	s     uint   // m's bit length - 64, or 0
	top   uint64 // m >> s: m's top 64 bits
	exact bool   // m < 2^64: top is m
}

func newReducer(m *big.Int, z *bigScratch) reducer {
	if m.BitLen() <= 64 { // short inputs forced onto this path (tests)
		return reducer{m: m, top: m.Uint64(), exact: true}
	}
	s := uint(m.BitLen() - 64)
	return reducer{m: m, s: s, top: z.t.Rsh(m, s).Uint64()}
}

// reduce sets r = y mod m (y >= 0), using z.t, z.pw and z.quo. r must not
// be y.
func (rd *reducer) reduce(r, y *big.Int, z *bigScratch) {
	switch excess := y.BitLen() - rd.m.BitLen(); {
	case excess < 63:
		rd.short(r, y, z)
	case excess < 125:
		// Two steps: the top of y first, (y >> 62) mod m, then that
		// remainder with y's last 62 bits appended; each quotient is short.
		low := y.Uint64() & (1<<62 - 1)
		rd.short(r, z.quo.Rsh(y, 62), z)
		r.Lsh(r, 62)
		z.quo.Add(r, z.pw.SetUint64(low))
		rd.short(r, &z.quo, z)
	default:
		z.quo.QuoRem(y, rd.m, r)
	}
}

// short sets r = y mod m for y < m * 2^63; r must not be y.
func (rd *reducer) short(r, y *big.Int, z *bigScratch) {
	// y >> s < 2^126 and its top word is below top / 2: the estimate
	// q = floor((y >> s) / (top + 1)) <= floor(y / m) fits in a word and
	// falls short of it by at most a few (exactly right when m < 2^64).
	z.t.Rsh(y, rd.s)
	lo := z.t.Uint64()
	hi := z.t.Rsh(&z.t, 64).Uint64()
	var q uint64
	switch {
	case rd.exact:
		q, _ = bits.Div64(hi, lo, rd.top)
	case rd.top == ^uint64(0):
		q = hi // division by 2^64
	default:
		q, _ = bits.Div64(hi, lo, rd.top+1)
	}
	z.t.Mul(rd.m, z.pw.SetUint64(q))
	r.Sub(y, &z.t)
	for r.Cmp(rd.m) >= 0 {
		r.Sub(r, rd.m)
	}
}
