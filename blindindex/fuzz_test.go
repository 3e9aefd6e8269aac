package blindindex

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// requireSeeds fails if a target's checked-in seed corpus is missing, so a
// fuzz target never runs on nothing.
func requireSeeds(f *testing.F, name string) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
	if err != nil || len(entries) == 0 {
		f.Fatalf("seed corpus testdata/fuzz/%s is empty or missing: %v", name, err)
	}
}

// FuzzTransform: no spec and no value makes the parser or a transform
// panic; a parsed spec renders canonically; a valid UTF-8 value gives a
// valid UTF-8 result or a typed error; a transform is deterministic.
func FuzzTransform(f *testing.F) {
	requireSeeds(f, "FuzzTransform")
	f.Fuzz(func(t *testing.T, spec, value string) {
		tr, err := ParseTransform(spec)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("untyped parse error %v", err)
			}
			return
		}
		if again, err := ParseTransform(tr.String()); err != nil || again != tr {
			t.Fatalf("%q renders as %q, which parses to %v, %v", spec, tr.String(), again, err)
		}
		out, err := tr.Apply(value)
		if err != nil {
			var ve *ValueError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("untyped value error %v", err)
			}
			if utf8.ValidString(value) && errors.Is(err, ErrInvalidUTF8) {
				t.Fatal("valid UTF-8 refused as invalid")
			}
			return
		}
		if utf8.ValidString(value) && !utf8.ValidString(out) {
			t.Fatalf("%s(%q) = %q: not UTF-8", spec, value, out)
		}
		if again, _ := tr.Apply(value); again != out {
			t.Fatal("not deterministic")
		}
	})
}

// FuzzSpecs: the bits, slow and term parsers never panic, and what they
// accept round-trips.
func FuzzSpecs(f *testing.F) {
	requireSeeds(f, "FuzzSpecs")
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseSlow(s); err == nil {
			if q, err := ParseSlow(p.String()); err != nil || q != p {
				t.Fatalf("slow %q: %v %v", s, q, err)
			}
		} else if !errors.Is(err, ErrSpec) {
			t.Fatal(err)
		}
		if _, err := ParseBits(s); err != nil && !errors.Is(err, ErrSpec) {
			t.Fatal(err)
		}
		if tm, err := ParseTerm(s); err == nil {
			if tm.String() != s {
				t.Fatalf("term %q renders as %q", s, tm.String())
			}
		} else if !errors.Is(err, ErrInvalidTerm) {
			t.Fatal(err)
		}
		if tm, err := ParseTermBytes([]byte(s)); err == nil {
			if string(tm.Bytes()) != s {
				t.Fatal("binary term does not round-trip")
			}
		}
	})
}
