package vaulttoken_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
)

func TestShapes(t *testing.T) {
	cases := []struct {
		f     vaulttoken.Format
		value string
		keep  string // characters that must stay where they are ('.' = generated)
		space float64
		ff1   bool
	}{
		{tokenize.Digits, "1234", "....", 1e4, false},
		{tokenize.Digits, "123456", "......", 1e6, true},
		{tokenize.SSN, "123-45-6789", "...-..-....", 1e9, true},
		{tokenize.PAN, "4111 1111 1111 1111", "4... .... .... 1111", 1e9, true}, // 9 enciphered digits + the check digit
		{tokenize.Phone, "+4915112345678", "+49...........", 1e11, true},
		{tokenize.Email, "ada@example.com", "...@example.com", 26 * 26 * 26, false},
		{tokenize.Alnum, "AB-12", "..-..", 26 * 26 * 100, false},
		{vaulttoken.PostcodeUS, "94105", ".....", 1e5, false},
		{vaulttoken.PostcodeUS, "94105-1234", ".....-....", 1e9, false},
		{vaulttoken.PostcodeDE, "10115", ".....", 1e5, false},
		{vaulttoken.PostcodeNL, "1012 AB", ".... ..", 1e4 * 26 * 26, false},
		{vaulttoken.PostcodeCA, "K1A 0B1", "... ...", 26 * 10 * 26 * 10 * 26 * 10, false},
		{vaulttoken.PostcodeUK, "SW1A 1AA", ".... ...", 26 * 26 * 10 * 26 * 10 * 26 * 26, false},
		{vaulttoken.Text, "ab", "..", 62 * 62, false},
	}
	for _, c := range cases {
		tp, err := vaulttoken.Parse(c.f, c.value)
		if err != nil {
			t.Fatalf("Parse(%s, %q): %v", c.f, c.value, err)
		}
		if c.f != tokenize.PAN && tp.Space() != c.space {
			t.Errorf("%s %q: Space = %g, want %g", c.f, c.value, tp.Space(), c.space)
		}
		if tp.FF1() != c.ff1 {
			t.Errorf("%s %q: FF1 = %v, want %v", c.f, c.value, tp.FF1(), c.ff1)
		}
		seen := map[string]bool{}
		for range 50 {
			tok, err := tp.Token()
			if err != nil {
				t.Fatal(err)
			}
			if len(tok) != len(c.value) {
				t.Fatalf("%s: token %q has another length", c.f, tok)
			}
			for i := range c.keep {
				if c.keep[i] != '.' && tok[i] != c.keep[i] {
					t.Fatalf("%s: token %q changed kept character %d", c.f, tok, i)
				}
			}
			// Every token is itself a value of the format (it has the shape).
			if _, err := vaulttoken.Parse(c.f, tok); err != nil && c.f != tokenize.PAN {
				t.Fatalf("%s: token %q does not parse: %v", c.f, tok, err)
			}
			if c.f == tokenize.PAN && tokenize.LuhnValid(strings.ReplaceAll(tok, " ", "")) {
				t.Fatalf("pan token %q passes the Luhn check", tok)
			}
			seen[tok] = true
		}
		if c.space >= 1e4 && len(seen) < 40 {
			t.Errorf("%s: only %d distinct tokens of 50", c.f, len(seen))
		}
	}
}

func TestDate(t *testing.T) {
	tp, err := vaulttoken.Parse(vaulttoken.Date, "1815-12-10")
	if err != nil {
		t.Fatal(err)
	}
	if tp.Space() != 73049 || tp.Limit() != 4565 {
		t.Fatalf("Space %g, Limit %d", tp.Space(), tp.Limit())
	}
	for range 100 {
		tok, _ := tp.Token()
		d, err := time.Parse(time.DateOnly, tok)
		if err != nil || d.Year() < 1900 || d.Year() > 2099 {
			t.Fatalf("date token %q", tok)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		f     vaulttoken.Format
		value string
		limit int64
	}{{tokenize.Digits, "1234", 625}, {vaulttoken.PostcodeUS, "94105", 6250}, {tokenize.Digits, "1", 1}} {
		tp, err := vaulttoken.Parse(c.f, c.value)
		if err != nil || tp.Limit() != c.limit {
			t.Errorf("%s %q: Limit = %v, %v; want %d", c.f, c.value, tp, err, c.limit)
		}
	}
}

// TestBadInput: refusals are typed and never echo the value.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		f     vaulttoken.Format
		value string
	}{
		{tokenize.Digits, "12a4"}, {tokenize.SSN, "secret-99"}, {tokenize.PAN, "4111111111111112"},
		{tokenize.Email, "nobody"}, {vaulttoken.Date, "1999-02-30"}, {vaulttoken.PostcodeUK, "secret"},
		{vaulttoken.PostcodeCA, "K1A-0B1"}, {vaulttoken.Text, "pass word"}, {tokenize.Digits, ""},
		{tokenize.Alnum, "\xff\xfe"},
	} {
		_, err := vaulttoken.Parse(c.f, c.value)
		if !errors.Is(err, tokenize.ErrInvalidValue) {
			t.Errorf("Parse(%s, %q) = %v, want ErrInvalidValue", c.f, c.value, err)
			continue
		}
		if c.value != "" && strings.Contains(err.Error(), c.value) {
			t.Errorf("error %q reveals the value", err)
		}
	}
	if _, err := vaulttoken.Parse(tokenize.Digits, strings.Repeat("1", vaulttoken.MaxValueBytes+1)); !errors.Is(err, vaulttoken.ErrTooLong) {
		t.Errorf("long value: %v", err)
	}
	if _, err := vaulttoken.ParseFormat("nope"); err == nil {
		t.Error("ParseFormat accepted an unknown format")
	}
}
