package pii

import (
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
)

// TestVaultRouteTokenAgreesWithValue checks the claim Open relies on: the
// path a value takes (FF1 or the vault) is the path its token takes, for
// every FF1 format, edge lengths included, whether the token is a vaulted
// one or an FF1 one.
func TestVaultRouteTokenAgreesWithValue(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	key, err := tokenize.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenize.NewTokenizer(key)
	if err != nil {
		t.Fatal(err)
	}
	tweak := []byte("tweak")
	values := map[tokenize.Format][]string{
		tokenize.Digits: {"7", "12", "123", "1234", "12345", "123456", "1234567", strings.Repeat("9", 1023), strings.Repeat("9", 1024), strings.Repeat("9", 1025), strings.Repeat("9", 4096)},
		tokenize.SSN:    {"123-45-6789", "123456789"},
		tokenize.PAN:    {"4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4222222222222", "6011000990139424", "4111111111111111110"},
		tokenize.Phone:  {"+12345678", "+35112345", "+351123456", "+44123456", "+4412345", "+4912345678901", "+123456789012345"},
		tokenize.Email:  {"a@x.org", "ada@x.org", "adal@x", "adalo@x", "12345@x", "123456@x", "a.b-c@x", "Ab1@x", "Abc1@x", "ä@x", strings.Repeat("a", 1000) + "@x"},
		tokenize.Alnum:  {"a", "ab", "abcd", "abcde", "ab-12", "12345", "123456", "A1b2", "A1b2C", "x y z w", strings.Repeat("Z", 1024)},
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 300 { // random shapes too
		n := 1 + r.IntN(9)
		var b strings.Builder
		for range n {
			b.WriteByte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-. "[r.IntN(65)])
		}
		values[tokenize.Alnum] = append(values[tokenize.Alnum], b.String())
		values[tokenize.Email] = append(values[tokenize.Email], strings.TrimSpace(b.String())+"@example.com")
		d := make([]byte, 1+r.IntN(8))
		for i := range d {
			d[i] = '0' + byte(r.IntN(10))
		}
		values[tokenize.Digits] = append(values[tokenize.Digits], string(d))
	}
	vaulted, ff1 := 0, 0
	for f, vs := range values {
		for _, always := range []bool{false, true} {
			fp := &fieldPlan{token: f, vault: &vaultTag{enabled: true, always: always}}
			for _, v := range vs {
				tmpl, err := routeVault(&job{field: fp, in: v}, false)
				if err != nil {
					if !always {
						t.Errorf("%s %q: routing failed: %v", f, v, err)
					}
					continue
				}
				var tok string
				if tmpl != nil {
					vaulted++
					if tok, err = tmpl.Token(); err != nil {
						t.Fatal(err)
					}
				} else {
					if tok, err = tk.Tokenize(f, tweak, v); err != nil {
						continue // FF1 refuses it (too long, not of the format): so does Open
					}
					ff1++
				}
				if len(tok) != len(v) {
					t.Errorf("%s %q: token of another length", f, v)
				}
				back, err := routeVault(&job{field: fp, in: tok}, true)
				if err != nil {
					t.Errorf("%s (always=%v) %q: the token does not route: %v", f, always, v, err)
					continue
				}
				if (back != nil) != (tmpl != nil) {
					t.Errorf("%s (always=%v) %q: the value goes to the vault: %v, its token: %v", f, always, v, tmpl != nil, back != nil)
				}
			}
		}
	}
	if vaulted == 0 || ff1 == 0 {
		t.Fatalf("vaulted %d, FF1 %d: the test exercised only one path", vaulted, ff1)
	}
}

// TestVaultRouteVaultOnlyFormats: dates, postcodes and text always go to
// the vault; a value not of the format, or too long, is refused.
func TestVaultRouteVaultOnlyFormats(t *testing.T) {
	ok := map[tokenize.Format]string{
		vaulttoken.Date: "1815-12-10", vaulttoken.PostcodeUS: "12345-6789", vaulttoken.PostcodeUK: "SW1A 1AA",
		vaulttoken.PostcodeDE: "10115", vaulttoken.PostcodeNL: "1012 AB", vaulttoken.PostcodeCA: "K1A 0B1", vaulttoken.Text: "Ada",
	}
	for f, v := range ok {
		fp := &fieldPlan{token: f, vault: &vaultTag{enabled: true}}
		tmpl, err := routeVault(&job{field: fp, in: v}, false)
		if err != nil || tmpl == nil {
			t.Errorf("%s %q: %v, %v", f, v, tmpl, err)
		}
		if _, err := routeVault(&job{field: fp, in: v + "!"}, false); !errors.Is(err, tokenize.ErrInvalidValue) {
			t.Errorf("%s: a value not of the format: %v", f, err)
		}
	}
	fp := &fieldPlan{token: vaulttoken.Text, vault: &vaultTag{enabled: true}}
	if _, err := routeVault(&job{field: fp, in: strings.Repeat("a", 1025)}, false); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("too long: %v", err)
	}
}
