package blindindex

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"golang.org/x/crypto/argon2"
)

const benchValue = "ann.lee@example.com"

// BenchmarkRawHMACSHA256 is the floor: one HMAC-SHA256 of the value with
// a prepared hmac.Hash, reused (the cheapest way the standard library
// offers).
func BenchmarkRawHMACSHA256(b *testing.B) {
	m := hmac.New(sha256.New, make([]byte, 32))
	msg := []byte(benchValue)
	sum := make([]byte, 0, 32)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		m.Reset()
		m.Write(msg)
		sum = m.Sum(sum[:0])
	}
}

// BenchmarkTerm is one term of a prepared Key, no transform; compare with
// BenchmarkRawHMACSHA256 (goal ≤ 1.3×). The sub-benchmarks add
// transforms.
func BenchmarkTerm(b *testing.B) {
	for _, spec := range []string{"", "trim+fold", "nfkc+trim+fold", "trim+email-domain"} {
		name := spec
		if name == "" {
			name = "identity"
		}
		b.Run(name, func(b *testing.B) {
			k := mustKey(b, testRoot(1), 1, testName, Definition{Inputs: []Transform{mustTransform(b, spec)}})
			b.ReportAllocs()
			b.SetBytes(int64(len(benchValue)))
			for b.Loop() {
				if _, err := k.Term(benchValue); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTerms is a lookup's terms under three key versions.
func BenchmarkTerms(b *testing.B) {
	r, _ := NewKeyring(testName, Definition{}, map[uint32]RootKey{1: testRoot(1), 2: testRoot(2), 3: testRoot(3)})
	b.ReportAllocs()
	for b.Loop() {
		r.Terms(benchValue)
	}
}

// BenchmarkSlowTerm is one slow term at several Argon2id settings,
// DefaultSlow first.
func BenchmarkSlowTerm(b *testing.B) {
	for _, p := range []Argon2Params{DefaultSlow, {MemoryKiB: 4096, Time: 1, Threads: 1}, {MemoryKiB: 1024, Time: 1, Threads: 1}, {MemoryKiB: 64, Time: 1, Threads: 1}} {
		b.Run(p.String(), func(b *testing.B) {
			k := mustKey(b, testRoot(1), 1, testName, Definition{Inputs: []Transform{mustTransform(b, "digits")}, Slow: &p})
			b.ReportAllocs()
			for b.Loop() {
				k.Term("123-45-6789")
			}
		})
	}
}

// BenchmarkRawArgon2id is the floor of a slow term at DefaultSlow.
func BenchmarkRawArgon2id(b *testing.B) {
	pw, salt := make([]byte, 32), make([]byte, 16)
	for b.Loop() {
		argon2.IDKey(pw, salt, DefaultSlow.Time, DefaultSlow.MemoryKiB, DefaultSlow.Threads, 32)
	}
}

// BenchmarkNewKey is the one-off cost of preparing a Key (HKDF).
func BenchmarkNewKey(b *testing.B) {
	root := testRoot(1)
	b.ReportAllocs()
	for b.Loop() {
		NewKey(root, 1, testName, Definition{})
	}
}
