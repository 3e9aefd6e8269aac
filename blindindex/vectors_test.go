package blindindex

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/argon2"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC4231 checks the HMAC-SHA256 that terms use against RFC 4231's
// test cases (test case 5 truncated to 128 bits, as a term is).
func TestRFC4231(t *testing.T) {
	var vs []struct{ Source, Key, Data, MAC string }
	readJSON(t, "rfc4231.json", &vs)
	if len(vs) != 7 {
		t.Fatalf("%d vectors, want 7", len(vs))
	}
	for _, v := range vs {
		m := hmac.New(sha256.New, unhex(t, v.Key))
		m.Write(unhex(t, v.Data))
		want := unhex(t, v.MAC)
		if got := m.Sum(nil)[:len(want)]; !bytes.Equal(got, want) {
			t.Errorf("%s: %x", v.Source, got)
		}
		// The same through truncate, at the vector's length (at most 128 bits).
		n := min(len(want), MaxBits/8)
		if tr := truncate(1, 8*n, m.Sum(nil)); !bytes.Equal(tr.b[:tr.n], want[:n]) {
			t.Errorf("%s: truncate gives %x", v.Source, tr.b[:tr.n])
		}
	}
}

// TestRFC5869 checks the HKDF-SHA256 that derives term keys against RFC
// 5869's SHA-256 test cases.
func TestRFC5869(t *testing.T) {
	var vs []struct {
		Source, IKM, Salt, Info, PRK, OKM string
		Length                            int
	}
	readJSON(t, "rfc5869.json", &vs)
	if len(vs) != 3 {
		t.Fatalf("%d vectors, want 3", len(vs))
	}
	for _, v := range vs {
		prk, err := hkdf.Extract(sha256.New, unhex(t, v.IKM), unhex(t, v.Salt))
		if err != nil || !bytes.Equal(prk, unhex(t, v.PRK)) {
			t.Errorf("%s: PRK %x, %v", v.Source, prk, err)
		}
		okm, err := hkdf.Key(sha256.New, unhex(t, v.IKM), unhex(t, v.Salt), string(unhex(t, v.Info)), v.Length)
		if err != nil || !bytes.Equal(okm, unhex(t, v.OKM)) {
			t.Errorf("%s: OKM %x, %v", v.Source, okm, err)
		}
	}
}

// TestArgon2id checks golang.org/x/crypto/argon2.IDKey, which slow terms
// use, against phc-winner-argon2's Argon2id test vectors (version 0x13)
// and against libargon2 at the parameters this package uses. RFC 9106's
// Argon2id vector (section 5.3) needs a secret and associated data, which
// IDKey cannot take; gen_reference.py checks it against libargon2 instead.
func TestArgon2id(t *testing.T) {
	var vs []struct {
		Source, Password, Salt, Tag string
		Time, MemoryKiB             uint32
		Threads                     uint8
	}
	readJSON(t, "argon2id.json", &vs)
	if len(vs) != 12 {
		t.Fatalf("%d vectors, want 12", len(vs))
	}
	for _, v := range vs {
		if v.MemoryKiB > 1<<16 && testing.Short() {
			continue
		}
		got := argon2.IDKey(unhex(t, v.Password), unhex(t, v.Salt), v.Time, v.MemoryKiB, v.Threads, 32)
		if want := unhex(t, v.Tag); !bytes.Equal(got, want) {
			t.Errorf("%s (t=%d m=%d p=%d): %x", v.Source, v.Time, v.MemoryKiB, v.Threads, got)
		}
	}
}

type termVector struct {
	Root, Scope, Field, Index string
	Version                   uint32
	Inputs                    []string
	Bits                      int
	Slow                      *string
	Values                    []string
	Term, Binary              string
}

func (v termVector) key(t *testing.T) *Key {
	t.Helper()
	root, err := NewRootKey(unhex(t, v.Root))
	if err != nil {
		t.Fatal(err)
	}
	d := Definition{Bits: v.Bits}
	for _, s := range v.Inputs {
		tr, err := ParseTransform(s)
		if err != nil {
			t.Fatal(err)
		}
		d.Inputs = append(d.Inputs, tr)
	}
	if v.Slow != nil {
		p, err := ParseSlow(*v.Slow)
		if err != nil {
			t.Fatal(err)
		}
		d.Slow = &p
	}
	k, err := NewKey(root, v.Version, Name{v.Scope, v.Field, v.Index}, d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTermVectors checks whole terms against testdata/terms.json, which
// gen_terms.py computes with a second implementation of the construction
// (Python's hmac/hashlib and libargon2).
func TestTermVectors(t *testing.T) {
	var vs []termVector
	readJSON(t, "terms.json", &vs)
	if len(vs) < 15 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for i, v := range vs {
		k := v.key(t)
		got, err := k.Term(v.Values...)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got.String() != v.Term || hex.EncodeToString(got.Bytes()) != v.Binary {
			t.Errorf("%d (%s %v): %s / %x, want %s / %s", i, k.Definition(), v.Values, got, got.Bytes(), v.Term, v.Binary)
		}
	}
}
