package tokenize

import (
	"encoding/binary"
	"math/bits"
)

// u128 is an unsigned 128-bit integer.
type u128 struct{ hi, lo uint64 }

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

// bitLen is the bit length of x.
func (x u128) bitLen() int {
	if x.hi != 0 {
		return 64 + bits.Len64(x.hi)
	}
	return bits.Len64(x.lo)
}

// pow128 returns radix^e if it is below 2^128.
func pow128(radix uint32, e int) (u128, bool) {
	p := u128{0, 1}
	for range e {
		hi, lo := bits.Mul64(p.lo, uint64(radix))
		top, over := bits.Mul64(p.hi, uint64(radix))
		hi, carry := bits.Add64(hi, over, 0)
		if top != 0 || carry != 0 {
			return u128{}, false
		}
		p = u128{hi, lo}
	}
	return p, true
}

// crypt128 is FF1 when radix^v < 2^128: inputs of 39 to 76 decimal digits,
// 25 to 49 characters of base 36. It is cryptFast with the halves in two
// words: the rest of Q after Q[:fixed] is one block built in registers (two
// when b is 16 bytes), S is R (and one more block when d is 20 bytes), and
// y mod radix^m is a short Knuth division on words. No math/big, no
// allocation.
func (f *FF1) crypt128(encrypt bool, tweak []byte, x []uint16, mv u128) {
	n := len(x)
	u := n / 2
	mu := f.pow128[u]
	a := numU128(x[:u], f.radix)
	b := numU128(x[u:], f.radix)
	max := u128{mv.hi, mv.lo - 1} // radix^v - 1
	if mv.lo == 0 {
		max.hi--
	}
	l := newLayout(f.radix, n, len(tweak), numLen(max.bitLen()))

	sc := scratchPool.Get().(*scratch)
	blk := &sc.state
	f.prefix(blk, l, tweak)
	t0, t1 := tail(l, tweak)
	k0 := t0 ^ binary.BigEndian.Uint64(blk[0:8])
	k1 := t1 ^ binary.BigEndian.Uint64(blk[8:16])
	// [i] is byte 15-b of the first block after Q[:fixed] (byte 15 when
	// b is 16, and NUM is then a block of its own).
	iShift0, iShift1 := uint(64), uint(8*l.b)
	if l.b >= 8 && l.b < 16 {
		iShift0, iShift1 = uint(8*l.b-64), 64
	} else if l.b == 16 {
		iShift1 = 0
	}

	for r := range 10 {
		i := uint64(r)
		in := b
		if !encrypt {
			i = uint64(9 - r)
			in = a
		}
		if l.b < 16 {
			f.encryptWords(blk, k0^i<<iShift0^in.hi, k1^i<<iShift1^in.lo)
		} else {
			f.encryptWords(blk, k0, k1^i)
			f.encryptWords(blk, binary.BigEndian.Uint64(blk[0:8])^in.hi, binary.BigEndian.Uint64(blk[8:16])^in.lo)
		}

		// y = NUM(S), S the first d bytes of R || CIPH(R xor [1]^16): at
		// most 160 bits, in three words.
		r0, r1 := binary.BigEndian.Uint64(blk[0:8]), binary.BigEndian.Uint64(blk[8:16])
		var y2, y1, y0 uint64
		switch l.d {
		case 8:
			y0 = r0
		case 12:
			y1, y0 = r0>>32, r0<<32|r1>>32
		case 16:
			y1, y0 = r0, r1
		default: // 20
			f.encryptWords(&sc.ext, r0, r1^1)
			e := uint64(binary.BigEndian.Uint32(sc.ext[0:4]))
			y2, y1, y0 = r0>>32, r0<<32|r1>>32, r1<<32|e
		}
		m := mu
		if i%2 == 1 {
			m = mv
		}
		y := mod192(y2, y1, y0, m)
		if encrypt {
			a, b = b, addMod(a, y, m)
		} else {
			b, a = a, subMod(b, y, m)
		}
	}
	scratchPool.Put(sc)
	f.strU128(x[:u], a)
	f.strU128(x[u:], b)
}

// addMod returns (a + y) mod m for a, y < m.
func addMod(a, y, m u128) u128 {
	lo, c := bits.Add64(a.lo, y.lo, 0)
	hi, c := bits.Add64(a.hi, y.hi, c)
	s := u128{hi, lo}
	if c != 0 || !s.less(m) { // a + y < 2m: one subtraction, wrapping
		s.lo, c = bits.Sub64(s.lo, m.lo, 0)
		s.hi, _ = bits.Sub64(s.hi, m.hi, c)
	}
	return s
}

// subMod returns (b - y) mod m for b, y < m.
func subMod(b, y, m u128) u128 {
	lo, bw := bits.Sub64(b.lo, y.lo, 0)
	hi, bw := bits.Sub64(b.hi, y.hi, bw)
	if bw != 0 {
		var c uint64
		lo, c = bits.Add64(lo, m.lo, 0)
		hi, _ = bits.Add64(hi, m.hi, c)
	}
	return u128{hi, lo}
}

// mod192 returns y2:y1:y0 mod m (m > 0).
func mod192(y2, y1, y0 uint64, m u128) u128 {
	if m.hi == 0 {
		r := y2 % m.lo
		_, r = bits.Div64(r, y1, m.lo)
		_, r = bits.Div64(r, y0, m.lo)
		return u128{0, r}
	}
	// Knuth's algorithm D with a two-word divisor, normalized so that its
	// top bit is set, one quotient word at a time.
	s := uint(bits.LeadingZeros64(m.hi))
	d1, d0 := m.hi<<s|m.lo>>(64-s), m.lo<<s
	r := u128{y2, y1}
	if !r.less(m) { // S of 20 bytes; with y2 == 0, y1 < 2^64 <= m
		r = modStep(u128{0, y2}, y1, d1, d0, s)
	}
	return modStep(r, y0, d1, d0, s)
}

// modStep returns (r*2^64 + w) mod m, for r < m, with d1:d0 = m << s
// normalized.
func modStep(r u128, w, d1, d0 uint64, s uint) u128 {
	// X = (r:w) << s fits in three words because r < m.
	x2 := r.hi<<s | r.lo>>(64-s)
	x1 := r.lo<<s | w>>(64-s)
	x0 := w << s
	// The quotient is one word; q̂ from the top words overestimates it by
	// at most 2 (Knuth, TAOCP 4.3.1, Theorem B).
	q := ^uint64(0)
	if x2 < d1 {
		q, _ = bits.Div64(x2, x1, d1)
	}
	c0, p0 := bits.Mul64(q, d0)
	p2, p1 := bits.Mul64(q, d1)
	p1, c := bits.Add64(p1, c0, 0)
	p2 += c
	for {
		z0, bw := bits.Sub64(x0, p0, 0)
		z1, bw := bits.Sub64(x1, p1, bw)
		_, bw = bits.Sub64(x2, p2, bw)
		if bw == 0 { // X >= q*d: the remainder is z1:z0 < d
			return u128{z1 >> s, z0>>s | z1<<(64-s)}
		}
		p0, bw = bits.Sub64(p0, d0, 0)
		p1, bw = bits.Sub64(p1, d1, bw)
		p2 -= bw
	}
}

func numU128(x []uint16, radix uint32) u128 {
	var v u128
	for _, d := range x {
		hi, lo := bits.Mul64(v.lo, uint64(radix))
		hi += v.hi * uint64(radix)
		lo, c := bits.Add64(lo, uint64(d), 0)
		v = u128{hi + c, lo}
	}
	return v
}

// strU128 writes v as the len(dst) numerals of STR_radix(v): one 128-by-64
// division by radix^k (the largest power below 2^64) splits off the last k
// numerals, and the rest fits in a word.
func (f *FF1) strU128(dst []uint16, v u128) {
	if v.hi == 0 {
		f.div.str(dst, v.lo)
		return
	}
	// v >= 2^64 > radix^k, so dst is longer than k.
	k := len(f.pow64) - 1
	p := f.pow64[k]
	qh, rh := v.hi/p, v.hi%p
	ql, rem := bits.Div64(rh, v.lo, p)
	f.div.str(dst[len(dst)-k:], rem)
	f.strU128(dst[:len(dst)-k], u128{qh, ql})
}
