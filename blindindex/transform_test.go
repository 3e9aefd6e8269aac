package blindindex

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

type transformVector struct {
	Spec        string `json:"spec"`
	In          string `json:"in"`
	InvalidUTF8 bool   `json:"invalidUTF8"` // In's runes are bytes (JSON cannot hold invalid UTF-8)
	Out         string `json:"out"`
	Err         string `json:"err"`
	Why         string `json:"why"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// latin1 turns each rune (< 256) into one byte, to write invalid UTF-8 in JSON.
func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

func TestTransformVectors(t *testing.T) {
	var vs []transformVector
	readJSON(t, "transforms.json", &vs)
	if len(vs) < 20 {
		t.Fatalf("only %d vectors", len(vs))
	}
	sentinels := map[string]error{"ErrNotEmail": ErrNotEmail, "ErrInvalidUTF8": ErrInvalidUTF8}
	for _, v := range vs {
		tr, err := ParseTransform(v.Spec)
		if err != nil {
			t.Fatalf("%q: %v", v.Spec, err)
		}
		in := v.In
		if v.InvalidUTF8 {
			in = latin1(in)
		}
		got, err := tr.Apply(in)
		if v.Err != "" {
			var ve *ValueError
			if !errors.Is(err, sentinels[v.Err]) || !errors.Is(err, ErrInvalidValue) || !errors.As(err, &ve) {
				t.Errorf("%s(%q): err %v, want %s", v.Spec, v.In, err, v.Err)
			} else if strings.Contains(err.Error(), in) {
				t.Errorf("%s: error %q holds the value", v.Spec, err)
			}
			continue
		}
		if err != nil || got != v.Out {
			t.Errorf("%s(%q) = %q, %v; want %q (%s)", v.Spec, v.In, got, err, v.Out, v.Why)
		}
	}
}

func TestParseTransformCanonical(t *testing.T) {
	for _, spec := range []string{"", "nfc", "nfkc+trim+fold", "trim+email-domain", "nfkc+trim+email-local+fold+digits+last4", "first1", "last1024", "digits+first12"} {
		tr, err := ParseTransform(spec)
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		if tr.String() != spec {
			t.Errorf("%q renders as %q", spec, tr.String())
		}
	}
}

func TestParseTransformErrors(t *testing.T) {
	for spec, option := range map[string]string{
		"fold+trim":                "trim",
		"trim+trim":                "trim",
		"nfc+nfkc":                 "nfkc",
		"email-local+email-domain": "email-domain",
		"first3+last4":             "last4",
		"last4+digits":             "digits",
		"lower":                    "lower",
		"trim+":                    "",
		"+trim":                    "",
		"trim++fold":               "",
		"last":                     "last",
		"last0":                    "last0",
		"last04":                   "last04",
		"last+4":                   "last",
		"last1025":                 "last1025",
		"first-1":                  "first-1",
		"Trim":                     "Trim",
		"trim,fold":                "trim,fold",
		" trim":                    " trim",
	} {
		_, err := ParseTransform(spec)
		var se *SpecError
		if !errors.As(err, &se) || !errors.Is(err, ErrSpec) {
			t.Errorf("%q: err %v, want a *SpecError", spec, err)
			continue
		}
		if se.Option != option {
			t.Errorf("%q: option %q, want %q", spec, se.Option, option)
		}
	}
}

func TestTransformIsComparable(t *testing.T) {
	a, _ := ParseTransform("trim+fold")
	b, _ := ParseTransform("trim+fold")
	c, _ := ParseTransform("fold")
	if a != b || a == c || !(Transform{}).IsIdentity() || a.IsIdentity() {
		t.Fatal("transform equality is wrong")
	}
}

// TestASCIIFastPathMatchesXText: for every ASCII byte, in context, the
// fast path (no x/text) gives what x/text's NFC, NFKC and case folding give.
func TestASCIIFastPathMatchesXText(t *testing.T) {
	var all []byte
	for b := 0; b < utf8.RuneSelf; b++ {
		all = append(all, byte(b))
	}
	for _, s := range []string{string(all), "Ada@Example.COM", "  MiXeD 123 ", "", "ZZZ"} {
		if got, want := lowerASCII(s), cases.Fold().String(s); got != want {
			t.Errorf("lowerASCII(%q) = %q, x/text folds to %q", s, got, want)
		}
		if !norm.NFC.IsNormalString(s) || !norm.NFKC.IsNormalString(s) {
			t.Errorf("%q is not its own NFC/NFKC form", s)
		}
	}
}
