package mask

import (
	"errors"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	cases := []struct {
		k       Kind
		in, out string
	}{
		{Last4, "4111111111111111", "••••••••••••1111"},
		{Last4, "4111 1111 1111 1234", "•••••••••••••••1234"},
		{Last4, "1234", "••••"},
		{Last4, "12", "••••"},
		{Last4, "", "••••"},
		{Last4, "ÅngströmÅÄÖü", "••••••••ÅÄÖü"},
		{First1, "Ada", "A•••"},
		{First1, "Łukasz", "Ł•••"},
		{First1, "", "•••"},
		{First1, "\xffbad", "•••"},
		{Email, "ada@example.com", "•••@example.com"},
		{Email, "a.very.long.local.part@example.org", "•••@example.org"},
		{Email, "not-an-email", "••••••••"},
		{Email, "@example.com", "••••••••"},
		{Email, "ada@", "••••••••"},
		{Email, "a@b@c", "••••••••"},
		{Redact, "Ada Lovelace", "••••••••"},
		{Redact, "", "••••••••"},
	}
	for _, tc := range cases {
		got, err := Apply(tc.k, tc.in)
		if err != nil || got != tc.out {
			t.Errorf("Apply(%s, %q) = %q, %v; want %q", tc.k, tc.in, got, err, tc.out)
		}
		if !IsMasked(got) {
			t.Errorf("Apply(%s, %q) = %q is not recognised as masked", tc.k, tc.in, got)
		}
		if strings.HasPrefix(got, "fc") {
			t.Errorf("%q looks like a ciphertext", got)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"last4", "first1", "email", "redact"} {
		if k, err := Parse(s); err != nil || string(k) != s {
			t.Errorf("Parse(%q) = %q, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "last3", "LAST4", "mask"} {
		if _, err := Parse(s); !errors.Is(err, ErrUnknownKind) {
			t.Errorf("Parse(%q) = %v", s, err)
		}
	}
	if _, err := Apply("nope", "x"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Apply of an unknown mask = %v", err)
	}
}

// FuzzApply: masks never panic, always mark their output, and never show
// more than they promise (for Redact: nothing; for Email: nothing of the
// local part).
func FuzzApply(f *testing.F) {
	for _, s := range []string{"", "4111111111111111", "ada@example.com", "Ada", "\xff", "a@b@c", "ÅÄÖ@ü.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []Kind{Last4, First1, Email, Redact} {
			got, err := Apply(k, s)
			if err != nil || !IsMasked(got) {
				t.Fatalf("Apply(%s, %q) = %q, %v", k, s, got, err)
			}
			if k == Redact && got != bullets8 {
				t.Fatalf("Redact shows %q", got)
			}
			// Email shows the domain and nothing of the local part.
			if _, domain, _ := strings.Cut(s, "@"); k == Email && got != bullets8 && got != bullets3+"@"+domain {
				t.Fatalf("Email(%q) = %q", s, got)
			}
		}
	})
}
