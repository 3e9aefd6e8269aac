package tokenize

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestRadixDiv checks the division-free STR against plain division for
// radixes 2 to 65,536 (every one up to 1,100, then samples, and the
// largest), on random values of every length that fits in 64 bits and on
// the largest value of each.
func TestRadixDiv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(radix uint32) {
		d := newRadixDiv(radix)
		for n := 1; ; n++ {
			limit, ok := pow64(radix, n)
			for trial := range 8 {
				var v uint64
				switch {
				case trial == 0 && ok:
					v = limit - 1
				case trial == 0:
					v = ^uint64(0)
				case ok:
					v = rng.Uint64N(limit)
				default:
					v = rng.Uint64()
				}
				got := make([]uint16, n)
				d.str(got, v)
				w := v
				for i := n - 1; i >= 0; i-- {
					if uint64(got[i]) != w%uint64(radix) {
						t.Fatalf("radix %d, n %d, v %d: numeral %d is %d, want %d", radix, n, v, i, got[i], w%uint64(radix))
					}
					w /= uint64(radix)
				}
			}
			if !ok {
				return
			}
		}
	}
	for r := uint32(2); r <= 1100; r++ {
		check(r)
	}
	for range 500 {
		check(2 + rng.Uint32N(MaxRadix-1))
	}
	for _, r := range []uint32{1 << 15, 1<<16 - 1, 1 << 16} {
		check(r)
	}
}

// TestMod192 checks the word-sized Knuth division against math/big on
// random and extreme dividends and divisors below 2^128.
func TestMod192(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	word := func() uint64 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return ^uint64(0)
		case 2:
			return 1 << rng.IntN(64)
		}
		return rng.Uint64() >> rng.IntN(64)
	}
	for trial := range 200000 {
		m := u128{word(), word()}
		if m.hi == 0 && m.lo == 0 {
			continue
		}
		y2, y1, y0 := word()>>32, word(), word()
		if trial%3 == 0 {
			y2 = word() // full 192 bits
		}
		got := mod192(y2, y1, y0, m)
		y := new(big.Int).SetBits([]big.Word{big.Word(y0), big.Word(y1), big.Word(y2)})
		want := new(big.Int).Mod(y, new(big.Int).SetBits([]big.Word{big.Word(m.lo), big.Word(m.hi)}))
		if w := want.Bits(); toU128(w) != got {
			t.Fatalf("(%x:%x:%x) mod %x:%x = %x:%x, want %v", y2, y1, y0, m.hi, m.lo, got.hi, got.lo, want)
		}
		// addMod and subMod on values reduced mod m.
		a, b := mod192(0, word(), word(), m), mod192(0, word(), word(), m)
		sum := new(big.Int).Add(fromU128(a), fromU128(b))
		if s := addMod(a, b, m); fromU128(s).Cmp(sum.Mod(sum, fromU128(m))) != 0 {
			t.Fatalf("addMod(%v, %v, %v) = %v", a, b, m, s)
		}
		diff := new(big.Int).Sub(fromU128(a), fromU128(b))
		if s := subMod(a, b, m); fromU128(s).Cmp(diff.Mod(diff, fromU128(m))) != 0 {
			t.Fatalf("subMod(%v, %v, %v) = %v", a, b, m, s)
		}
	}
}

func toU128(w []big.Word) u128 {
	var v u128
	if len(w) > 0 {
		v.lo = uint64(w[0])
	}
	if len(w) > 1 {
		v.hi = uint64(w[1])
	}
	return v
}

func fromU128(v u128) *big.Int {
	return new(big.Int).SetBits([]big.Word{big.Word(v.lo), big.Word(v.hi)})
}

// TestReducer checks the math/big path's short reduction against
// big.Int.Mod: divisors of 2 to 2,000 bits (including all-ones top words
// and words that are exact), dividends from 0 up to and past m * 2^63 (one
// short step) and m * 2^125 (two steps; beyond, long division).
func TestReducer(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	z := new(bigScratch)
	random := func(bitLen int) *big.Int {
		v := new(big.Int)
		for v.BitLen() < bitLen {
			v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(rng.Uint64()))
		}
		return v.Rsh(v, uint(v.BitLen()-bitLen))
	}
	for trial := range 20000 {
		mBits := 2 + rng.IntN(2000)
		m := random(mBits)
		if trial%7 == 0 { // top word all ones
			m = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(mBits)), random(max(1, mBits-70)))
		}
		if m.Sign() == 0 {
			continue
		}
		rd := newReducer(m, z)
		y := random(1 + rng.IntN(mBits+140))
		switch trial % 5 {
		case 0: // the largest quotient of one short step
			y = new(big.Int).Sub(new(big.Int).Lsh(m, 63), big.NewInt(1))
		case 1: // and of two
			y = new(big.Int).Sub(new(big.Int).Lsh(m, 125), big.NewInt(1))
		}
		got := new(big.Int)
		rd.reduce(got, y, z)
		if want := new(big.Int).Mod(y, m); got.Cmp(want) != 0 {
			t.Fatalf("%d-bit y mod %d-bit m = %v, want %v", y.BitLen(), m.BitLen(), got, want)
		}
	}
}
