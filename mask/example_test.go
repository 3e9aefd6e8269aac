package mask_test

import (
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/mask"
)

func ExampleApply() {
	for _, c := range []struct {
		k mask.Kind
		v string
	}{{mask.Last4, "4111111111111111"}, {mask.First1, "Ada"}, {mask.Email, "ada@example.com"}, {mask.Redact, "Ada Lovelace"}} {
		m, _ := mask.Apply(c.k, c.v)
		fmt.Println(c.k, m)
	}
	// Output:
	// last4 ••••••••••••1111
	// first1 A•••
	// email •••@example.com
	// redact ••••••••
}
