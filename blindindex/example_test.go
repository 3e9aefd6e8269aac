package blindindex_test

import (
	"bytes"
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
)

// A fixed root key, so that the output below is stable. Use
// GenerateRootKey and keep the key in a key store.
var root, _ = blindindex.NewRootKey(bytes.Repeat([]byte{7}, 32))

func Example() {
	email, _ := blindindex.ParseTransform("trim+fold")
	key, err := blindindex.NewKey(root, 1,
		blindindex.Name{Scope: "shop.Customer", Field: "Email", Index: "email"},
		blindindex.Definition{Inputs: []blindindex.Transform{email}, Bits: 16})
	if err != nil {
		panic(err)
	}
	stored, _ := key.Term("Ann@Example.com ") // written beside the ciphertext
	query, _ := key.Term("ann@example.com")   // asked for by a lookup
	fmt.Println(stored, stored == query)
	// Output: v1:3861 true
}

func ExampleParseTransform() {
	t, err := blindindex.ParseTransform("nfkc+trim+fold")
	if err != nil {
		panic(err)
	}
	s, _ := t.Apply("\u3000ＡＮＮ@Example.com ")
	fmt.Println(s)

	_, err = blindindex.ParseTransform("fold+trim")
	fmt.Println(err)
	// Output:
	// ann@example.com
	// blindindex: invalid index spec: "trim": must come before fold (steps are written in the order they apply: nfc|nfkc, trim, email-local|email-domain, fold, digits, firstN|lastN)
}

// A compound index over last name and birth year.
func ExampleKey_Term_compound() {
	name, _ := blindindex.ParseTransform("nfkc+trim+fold")
	year, _ := blindindex.ParseTransform("digits")
	key, _ := blindindex.NewKey(root, 1,
		blindindex.Name{Scope: "shop.Customer", Field: "NameYear", Index: "name_year"},
		blindindex.Definition{Inputs: []blindindex.Transform{name, year}, Bits: 20})
	a, _ := key.Term("Lee", "1984")
	b, _ := key.Term(" LEE", "born 1984")
	_, err := key.Term("Lee")
	fmt.Println(a == b, err)
	// Output: true blindindex: index takes 2 value(s), got 1
}

// Rotation: Seal writes with the newest version, lookups ask for every
// version still in use.
func ExampleKeyring() {
	r, _ := blindindex.NewKeyring(
		blindindex.Name{Scope: "shop.Customer", Field: "Email", Index: "email"},
		blindindex.Definition{},
		map[uint32]blindindex.RootKey{1: root, 2: blindindex.GenerateRootKey()})
	write, _ := r.Term("ann@example.com")
	lookup, _ := r.Terms("ann@example.com")
	fmt.Println(write.Version(), len(lookup), lookup[0] == write, lookup[1].Version())
	// Output: 2 2 true 1
}

func ExampleRecommend() {
	p, err := blindindex.Recommend(blindindex.PlanInput{Rows: 100000, Distinct: 100000})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Bits, p.SafeMin, p.SafeMax, fmt.Sprintf("%.2f", p.FalsePositives))
	// Output: 15 9 15 3.05
}
