package tokenize

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math/big"
	"strings"
	"testing"
)

// refFF1 is FF1 written literally from NIST SP 800-38G Rev. 1, section 6.1,
// Algorithm 7 (FF1.Encrypt) and Algorithm 8 (FF1.Decrypt), with math/big,
// step by step: every round converts the halves it reads from numerals to
// numbers (NUM_radix), runs the PRF over the whole of P || Q from the zero
// block, and converts the new half back to numerals (STR^m_radix). What a
// straightforward implementation computes once it computes once: the AES
// key schedule (refCipher), P and radix^u, radix^v (once per call).
//
// It is the test reference of the fast paths (FuzzFF1Differential,
// TestPathsMatchReference), and in BenchmarkFF1VsReference the stand-in for
// the FF1 packages users would otherwise pick (capitalone/fpe,
// ubiq-fpe-go), which also keep the halves as strings and convert them with
// math/big in every round. Up to radix 62 the halves are strings of
// big.Int's digits, converted with SetString and Text — the fastest
// conversions math/big offers; beyond, numerals with a Horner loop.
func refFF1(key []byte, radix int, tweak []byte, x []uint16, encrypt bool) []uint16 {
	return newRefCipher(key, radix).crypt(tweak, x, encrypt)
}

// refCipher is refFF1's key and radix, set up once.
type refCipher struct {
	block cipher.Block
	radix int
}

func newRefCipher(key []byte, radix int) *refCipher {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	return &refCipher{block: block, radix: radix}
}

func (rc *refCipher) crypt(tweak []byte, x []uint16, encrypt bool) []uint16 {
	radix, block := rc.radix, rc.block
	n, t := len(x), len(tweak)
	// 1. u = floor(n/2); v = n - u.
	u := n / 2
	v := n - u
	// 2. A = X[1..u]; B = X[u+1..n].
	X := refString(x, radix)
	A, B := X.slice(0, u), X.slice(u, n)
	bigRadix := big.NewInt(int64(radix))
	radixU := new(big.Int).Exp(bigRadix, big.NewInt(int64(u)), nil)
	radixV := new(big.Int).Exp(bigRadix, big.NewInt(int64(v)), nil)
	// 3. b = ceil(ceil(v*log2(radix))/8): the byte length of radix^v - 1.
	b := (new(big.Int).Sub(radixV, big.NewInt(1)).BitLen() + 7) / 8
	// 4. d = 4*ceil(b/4) + 4.
	d := 4*((b+3)/4) + 4
	// 5. P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4.
	P := []byte{1, 2, 1, byte(radix >> 16), byte(radix >> 8), byte(radix), 10, byte(u)}
	P = binary.BigEndian.AppendUint32(P, uint32(n))
	P = binary.BigEndian.AppendUint32(P, uint32(t))
	// 6. For i from 0 to 9 (encryption) or from 9 down to 0 (decryption):
	for r := range 10 {
		i := r
		if !encrypt {
			i = 9 - r
		}
		// i. Q = T || [0]^((-t-b-1) mod 16) || [i]^1 || [NUM_radix(B)]^b;
		// decryption feeds A.
		in := B
		if !encrypt {
			in = A
		}
		Q := append([]byte(nil), tweak...)
		Q = append(Q, make([]byte, ((-t-b-1)%16+16)%16)...)
		Q = append(Q, byte(i))
		Q = append(Q, in.num().FillBytes(make([]byte, b))...)
		// ii. R = PRF(P || Q): CBC-MAC with AES from the zero block.
		PQ := append(append([]byte(nil), P...), Q...)
		R := make([]byte, 16)
		for j := 0; j < len(PQ); j += 16 {
			for k := range 16 {
				R[k] ^= PQ[j+k]
			}
			block.Encrypt(R, R)
		}
		// iii. S = the first d bytes of R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) || ...
		S := append([]byte(nil), R...)
		for j := 1; len(S) < d; j++ {
			blk := make([]byte, 16)
			binary.BigEndian.PutUint64(blk[8:], uint64(j))
			for k := range 16 {
				blk[k] ^= R[k]
			}
			block.Encrypt(blk, blk)
			S = append(S, blk...)
		}
		S = S[:d]
		// iv. y = NUM(S).
		y := new(big.Int).SetBytes(S)
		// v. m = u if i is even, else v.
		m, radixM := v, radixV
		if i%2 == 0 {
			m, radixM = u, radixU
		}
		if encrypt {
			// vi. c = (NUM_radix(A) + y) mod radix^m.
			c := new(big.Int).Add(A.num(), y)
			c.Mod(c, radixM)
			// vii. C = STR^m_radix(c); viii. A = B; ix. B = C.
			A, B = B, refStr(c, radix, m)
		} else {
			// vi. c = (NUM_radix(B) - y) mod radix^m (Mod is Euclidean).
			c := new(big.Int).Sub(B.num(), y)
			c.Mod(c, radixM)
			// vii. C = STR^m_radix(c); viii. B = A; ix. A = C.
			B, A = A, refStr(c, radix, m)
		}
	}
	// 7. Return A || B.
	return append(A.numerals(), B.numerals()...)
}

// refDigits are big.Int's digits for bases up to 62, in its order.
const refDigits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// refHalf is a string of numerals: for radix <= 62 as text in big.Int's
// digits (s), beyond as numerals (x).
type refHalf struct {
	radix int
	s     string
	x     []uint16
}

func refString(x []uint16, radix int) refHalf {
	if radix > big.MaxBase {
		return refHalf{radix: radix, x: x}
	}
	buf := make([]byte, len(x))
	for i, d := range x {
		buf[i] = refDigits[d]
	}
	return refHalf{radix: radix, s: string(buf)}
}

func (h refHalf) slice(i, j int) refHalf {
	if h.radix > big.MaxBase {
		return refHalf{radix: h.radix, x: h.x[i:j]}
	}
	return refHalf{radix: h.radix, s: h.s[i:j]}
}

// num is NUM_radix(X): the number the numerals stand for, most
// significant first.
func (h refHalf) num() *big.Int {
	if h.radix <= big.MaxBase {
		if h.s == "" {
			return new(big.Int)
		}
		z, ok := new(big.Int).SetString(h.s, h.radix)
		if !ok {
			panic("refHalf.num: bad numerals")
		}
		return z
	}
	z, r := new(big.Int), big.NewInt(int64(h.radix))
	for _, d := range h.x {
		z.Mul(z, r).Add(z, big.NewInt(int64(d)))
	}
	return z
}

func (h refHalf) numerals() []uint16 {
	if h.radix > big.MaxBase {
		return h.x
	}
	out := make([]uint16, len(h.s))
	for i := range h.s {
		out[i] = uint16(strings.IndexByte(refDigits, h.s[i]))
	}
	return out
}

// refStr is STR^m_radix(c): the m numerals of c, most significant first.
func refStr(c *big.Int, radix, m int) refHalf {
	if radix <= big.MaxBase {
		s := c.Text(radix)
		return refHalf{radix: radix, s: strings.Repeat("0", m-len(s)) + s}
	}
	out := make([]uint16, m)
	c = new(big.Int).Set(c)
	r, rem := big.NewInt(int64(radix)), new(big.Int)
	for i := m - 1; i >= 0; i-- {
		c.QuoRem(c, r, rem)
		out[i] = uint16(rem.Int64())
	}
	return refHalf{radix: radix, x: out}
}

// TestReferenceVectors checks the reference against every NIST and ACVP
// vector, so that it can stand as the reference.
func TestReferenceVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		f := vectorCipher(t, v)
		pt, err := f.appendNumerals(nil, v.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := f.appendNumerals(nil, v.Ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		key, tweak := mustHex(t, v.Key), mustHex(t, v.Tweak)
		if got := refFF1(key, v.Radix, tweak, pt, true); !equalUint16(got, ct) {
			t.Errorf("%s: reference Encrypt = %v, want %v", v.ID, got, ct)
		}
		if got := refFF1(key, v.Radix, tweak, ct, false); !equalUint16(got, pt) {
			t.Errorf("%s: reference Decrypt = %v, want %v", v.ID, got, pt)
		}
	}
}
