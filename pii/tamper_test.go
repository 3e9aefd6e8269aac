package pii_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

func decodeText(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s[5:])
	if err != nil {
		t.Fatalf("not a sealed text: %v", err)
	}
	return b
}

func encodeText(prefix string, ct []byte) string {
	return prefix + base64.RawURLEncoding.EncodeToString(ct)
}

// tinkKeyID returns the Tink key id in a sealed text (bytes 1-4 of Tink's
// output prefix).
func tinkKeyID(t *testing.T, s string) uint32 {
	return binary.BigEndian.Uint32(decodeText(t, s)[1:5])
}

// expectOpenFails opens c, expects an error matching one of want, and checks
// that c is unchanged.
func expectOpenFails(t *testing.T, p *pii.Protector, c *Customer, what string, want ...error) {
	t.Helper()
	before := deepCopy(*c)
	err := p.Open(context.Background(), c)
	if err == nil {
		t.Fatalf("%s: Open succeeded", what)
	}
	ok := false
	for _, w := range want {
		ok = ok || errors.Is(err, w)
	}
	if !ok {
		t.Errorf("%s: Open = %v, want one of %v", what, err, want)
	}
	if !reflect.DeepEqual(*c, before) {
		t.Errorf("%s: failed Open changed the value", what)
	}
}

func TestTamperEveryCiphertextBit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := Customer{ID: "tamper", Name: "Ada", Email: "ada@example.com"}
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for _, field := range []struct {
		name string
		get  func(*Customer) *string
	}{
		{"Name", func(c *Customer) *string { return &c.Name }},
		{"Email", func(c *Customer) *string { return (*string)(&c.Email) }},
	} {
		orig := *field.get(&c)
		ct := decodeText(t, orig)
		for i := range ct {
			for bit := range 8 {
				bad := append([]byte(nil), ct...)
				bad[i] ^= 1 << bit
				x := c
				*field.get(&x) = encodeText(orig[:5], bad)
				expectOpenFails(t, e.p, &x, field.name+" bit flip", pii.ErrAuthentication, pii.ErrMalformed)
			}
		}
		// Truncated and extended.
		for _, bad := range [][]byte{ct[:len(ct)-1], append(append([]byte(nil), ct...), 0)} {
			x := c
			*field.get(&x) = encodeText(orig[:5], bad)
			expectOpenFails(t, e.p, &x, field.name+" length change", pii.ErrAuthentication, pii.ErrMalformed)
		}
	}
}

func TestTamperEveryTextByte(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := Customer{ID: "tamper", Name: "Ada"}
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	orig := c.Name
	for i := range len(orig) {
		for _, delta := range []byte{1, 0x20, 0x80} {
			b := []byte(orig)
			b[i] ^= delta
			x := Customer{ID: c.ID, Name: string(b)}
			expectOpenFails(t, e.p, &x, "text byte flip", pii.ErrAuthentication, pii.ErrMalformed, pii.ErrNotSealed)
		}
	}
}

func TestTamperEveryBinaryByte(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := Customer{ID: "tamper", Notes: []byte("binary notes")}
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for i := range c.Notes {
		bad := append([]byte(nil), c.Notes...)
		bad[i] ^= 0x01
		x := Customer{ID: c.ID, Notes: bad}
		expectOpenFails(t, e.p, &x, "binary byte flip", pii.ErrAuthentication, pii.ErrMalformed, pii.ErrNotSealed)
	}
}

type Employee struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func TestMovedCiphertextsFailToOpen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := sampleCustomer("alice"), sampleCustomer("bob")
	if err := e.p.SealAll(ctx, []*Customer{&a, &b}); err != nil {
		t.Fatal(err)
	}
	auth := pii.ErrAuthentication

	// Another field of the same record.
	x := deepCopy(a)
	x.Aliases[0] = a.Name
	expectOpenFails(t, e.p, &x, "Name moved to Aliases", auth)
	x = deepCopy(a)
	x.Name = a.Home.Street
	expectOpenFails(t, e.p, &x, "Home.Street moved to Name", auth)
	x = deepCopy(a)
	x.Home.Zip = a.Home.Street
	expectOpenFails(t, e.p, &x, "Street moved to Zip (name=postcode)", auth)

	// Another record, another subject.
	x = deepCopy(a)
	x.Name = b.Name
	expectOpenFails(t, e.p, &x, "Name from another person's record", auth)
	x = deepCopy(a)
	x.Email = b.Email
	expectOpenFails(t, e.p, &x, "deterministic Email from another person's record", auth)
	x = deepCopy(a)
	x.Phones[0].Number = b.Phones[0].Number
	expectOpenFails(t, e.p, &x, "nested value from another person's record", auth)
	x = deepCopy(a)
	x.ID = "bob" // relabel the whole record as someone else's
	expectOpenFails(t, e.p, &x, "record relabelled to another subject", auth)

	// Another struct type with the same subject and field name.
	emp := Employee{ID: "alice", Name: a.Name}
	if err := e.p.Open(ctx, &emp); !errors.Is(err, auth) {
		t.Errorf("Customer.Name opened as Employee.Name: %v", err)
	}

	// Binary values too.
	x = deepCopy(a)
	x.Notes = b.Notes
	expectOpenFails(t, e.p, &x, "[]byte from another person's record", auth)
}
