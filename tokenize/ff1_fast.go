package tokenize

import (
	"encoding/binary"
	"math/bits"
)

// cryptFast is FF1 when radix^v < 2^64, so that both halves and both moduli
// are machine integers. The halves stay integers across all ten rounds:
// NUM(STR(c)) = c, so numerals are converted only on entry and exit.
//
// With b <= 8 bytes of NUM, what follows Q[:fixed] is exactly one block,
// (tweak tail, zeros) || [i] || [NUM]_b. It is built in registers: the
// constant part is XORed with the MAC state after the shared prefix once
// per call, so a round is one XOR of i and NUM, one AES block and one
// division. The call costs 1 + fixed/16 + 10 AES blocks.
func (f *FF1) cryptFast(encrypt bool, tweak []byte, x []uint16, mv uint64) {
	n := len(x)
	u := n / 2
	mu := f.pow64[u]
	a := numUint(x[:u], f.radix)
	b := numUint(x[u:], f.radix)
	l := newLayout(f.radix, n, len(tweak), numLen(bits.Len64(mv-1)))

	sc := scratchPool.Get().(*scratch)
	blk := &sc.state
	f.prefix(blk, l, tweak)
	t0, t1 := tail(l, tweak)
	k0 := t0 ^ binary.BigEndian.Uint64(blk[0:8])
	k1 := t1 ^ binary.BigEndian.Uint64(blk[8:16])
	// [i] is byte 15-b of the block: in the second word unless b == 8.
	iShift0, iShift1 := uint(64), uint(8*l.b)
	if l.b == 8 {
		iShift0, iShift1 = 0, 64
	}
	twelve := l.d > 8 // S is 12 bytes (b > 4), else 8

	for r := range 10 {
		i := uint64(r)
		// Encryption feeds B to the PRF, decryption A: the half that the
		// round does not change.
		in := b
		if !encrypt {
			i = uint64(9 - r)
			in = a
		}
		// A shift by 64 gives 0 in Go: i lands in exactly one word.
		f.encryptWords(blk, k0^i<<iShift0, k1^i<<iShift1^in)

		m := mu
		if i%2 == 1 {
			m = mv
		}
		// y mod m, with y = NUM(S) and S the first 8 or 12 bytes of R.
		var y uint64
		if twelve {
			hi := uint64(binary.BigEndian.Uint32(blk[0:4]))
			lo := binary.BigEndian.Uint64(blk[4:12])
			y = bits.Rem64(hi, lo, m)
		} else {
			y = binary.BigEndian.Uint64(blk[0:8]) % m
		}
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
	scratchPool.Put(sc)
	f.div.str(x[:u], a)
	f.div.str(x[u:], b)
}

func numUint(x []uint16, radix uint32) uint64 {
	var v uint64
	for _, d := range x {
		v = v*uint64(radix) + uint64(d)
	}
	return v
}

// radixDiv divides by the radix without a division instruction (which
// costs as much as a third of an AES block): for a < 2^32,
// a / radix = mulhi(c, a) with c = floor((2^64-1)/radix) + 1 (Lemire,
// Kaser and Kurz, "Faster remainder by direct computation", 2019,
// theorem 1). Longer values are first cut into chunks below
// p32 = radix^k32 <= 2^32.
type radixDiv struct {
	r, c, p32 uint64
	k32       int
}

func newRadixDiv(radix uint32) radixDiv {
	d := radixDiv{r: uint64(radix), c: ^uint64(0)/uint64(radix) + 1, p32: 1}
	for d.p32*uint64(radix) <= 1<<32 {
		d.p32 *= uint64(radix)
		d.k32++
	}
	return d
}

// str writes v as the len(dst) numerals of STR_radix(v) (v < radix^len(dst)).
func (d *radixDiv) str(dst []uint16, v uint64) {
	i := len(dst)
	for i > 0 {
		n := min(d.k32, i)
		chunk := v
		if i > d.k32 {
			if v < d.p32 {
				v = 0
			} else {
				chunk, v = v%d.p32, v/d.p32
			}
		}
		for range n { // chunk < 2^32
			q, _ := bits.Mul64(d.c, chunk)
			i--
			dst[i] = uint16(chunk - q*d.r)
			chunk = q
		}
	}
}
