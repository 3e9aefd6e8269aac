package tokenize_test

import (
	"encoding/hex"
	"fmt"
	"log"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// ExampleFF1 reproduces NIST's FF1 Sample 1 (SP 800-38G, FF1samples.pdf).
func ExampleFF1() {
	raw, _ := hex.DecodeString("2B7E151628AED2A6ABF7158809CF4F3C")
	key, err := tokenize.NewKey(raw)
	if err != nil {
		log.Fatal(err)
	}
	f, err := tokenize.NewFF1(key, "0123456789")
	if err != nil {
		log.Fatal(err)
	}
	ct, _ := f.Encrypt(nil, "0123456789")
	pt, _ := f.Decrypt(nil, ct)
	fmt.Println(ct, pt)
	// Output: 2433477484 0123456789
}

func ExampleTokenizer() {
	tk, err := tokenize.NewTokenizer(tokenize.GenerateKey())
	if err != nil {
		log.Fatal(err)
	}
	tweak := []byte("payments.card")
	token, err := tk.Tokenize(tokenize.PAN, tweak, "4111 1111 1111 1111")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("keeps first digit and last four:", token[0] == '4' && strings.HasSuffix(token, " 1111"))
	fmt.Println("passes Luhn:", tokenize.LuhnValid(strings.ReplaceAll(token, " ", "")))
	card, _ := tk.Detokenize(tokenize.PAN, tweak, token)
	fmt.Println("detokenized:", card)

	_, err = tk.Tokenize(tokenize.Digits, tweak, "12345")
	fmt.Println(err)
	// Output:
	// keeps first digit and last four: true
	// passes Luhn: false
	// detokenized: 4111 1111 1111 1111
	// tokenize: digits: need at least 6 digits
}
