package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Customer is one row of the customers table. The personal fields are
// sealed; beside them, three blind-index fields that Seal fills with
// truncated keyed hashes of the normalised plaintext, so that the database
// can find rows by equality without ever seeing an email or a card number.
//
// The bits were chosen with the planner (fieldcrypt index plan, or
// blindindex.Recommend) to stay within its rule (2 ≤ rows per term ≤ √N)
// for every table size from 10,000 to 100,000 rows: 12 bits gives 2.4 rows
// per term at 10,000 rows and 24 at 100,000. A table expected to grow past
// that needs more bits, and a re-index.
type Customer struct {
	ID        int64  // the row's primary key: not personal data
	Subject   string `pii:"subject"` // whose data this is: selects the key Forget destroys
	FirstName string `pii:"encrypt"`
	LastName  string `pii:"encrypt"`
	Email     string `pii:"encrypt"`
	Card      string `pii:"encrypt"`
	BirthDate string `pii:"encrypt"` // YYYY-MM-DD

	// Look up by email, whatever its case or surrounding spaces.
	EmailIdx string `pii:"index=Email,transform=trim+fold,bits=12,name=email"`
	// Look up by the last four digits of the card, however it was typed.
	Last4Idx string `pii:"index=Card,transform=digits+last4,bits=12,name=card_last4"`
	// Look up by last name and birth year together (a compound index: one
	// transform per source, '|'-separated; first4 of YYYY-MM-DD is the year).
	NameYearIdx string `pii:"index=LastName+BirthDate,transform=nfkc+trim+fold|first4,bits=12,name=name_year"`
}

// The index names, as Customer's tags give them (name=).
const (
	IndexEmail    = "email"
	IndexLast4    = "card_last4"
	IndexNameYear = "name_year"
)

// Synthetic people. Everything below is made up and deterministic: the
// same seed gives the same people, so that tests can count exactly.

var firstNames = strings.Fields(`Ada Alan Grace Edsger Barbara Donald Frances Ken Dennis Margaret
	John Radia Tim Vint Leslie Niklaus Hedy Claude Katherine Dorothy Annie Mary Sophie Carl
	Emmy Lise Marie Rosalind Chien-Shiung Srinivasa Hypatia Emilie Tu Jocelyn Vera Cecilia`)

// surnames are 24 × 24 = 576 made-up names of two syllables ("Bardell",
// "Ostrowen"), a few with letters beyond ASCII.
var surnames = func() []string {
	first := strings.Fields("Bar Ost Kel Mor Vand Lind Hal Fern Ash Brig Cor Dal Eck Gar Hess Ivo Jur Kov Lam Nord Pell Quin Rost Sæt")
	second := strings.Fields("dell rowen berg ley ström ford mann ick ova sen ton wood ard ez uchi ski is ak eau ini os ny dóttir quist")
	out := make([]string, 0, len(first)*len(second))
	for _, a := range first {
		for _, b := range second {
			out = append(out, a+b)
		}
	}
	return out
}()

var domains = []string{"example.com", "example.org", "example.net", "mail.example", "post.example", "inbox.example"}

// People returns n synthetic customers, rows 1 to n, spread over the given
// number of subjects (0: one subject per customer, as in an application
// where each customer is a person). Each email is unique; card last 4
// digits are uniform over 0000-9999; last names over 576 names and birth
// years over 1940-1999. Stored values vary in case, spacing and
// punctuation, as typed data does; the indexes' transforms absorb that.
func People(n, subjects int, seed uint64) []Customer {
	r := rand.New(rand.NewPCG(seed, 0x5ea7c4))
	out := make([]Customer, n)
	for i := range out {
		id := int64(i + 1)
		subject := fmt.Sprintf("cust-%07d", id)
		if subjects > 0 {
			subject = fmt.Sprintf("subject-%05d", i%subjects)
		}
		first := firstNames[r.IntN(len(firstNames))]
		last := surnames[r.IntN(len(surnames))]
		email := fmt.Sprintf("%s.%s.%d@%s", first, last, id, domains[r.IntN(len(domains))])
		switch r.IntN(3) {
		case 0:
			email = strings.ToLower(email)
		case 1:
			email = " " + email + " "
		}
		var card strings.Builder
		for g := range 4 {
			if g > 0 {
				card.WriteString([]string{" ", "-", ""}[i%3])
			}
			fmt.Fprintf(&card, "%04d", r.IntN(10000))
		}
		out[i] = Customer{
			ID:        id,
			Subject:   subject,
			FirstName: first,
			LastName:  last,
			Email:     email,
			Card:      card.String(),
			BirthDate: fmt.Sprintf("%04d-%02d-%02d", 1940+r.IntN(60), 1+r.IntN(12), 1+r.IntN(28)),
		}
	}
	return out
}

// Normalised lookup keys, written here without the library, to check its
// transforms against: what a person would consider the same value.

func emailKey(c Customer) string { return strings.ToLower(strings.TrimSpace(c.Email)) }

func last4Key(c Customer) string {
	var d []byte
	for _, r := range c.Card {
		if r >= '0' && r <= '9' {
			d = append(d, byte(r))
		}
	}
	return string(d[len(d)-4:])
}

func nameYearKey(c Customer) string { return strings.ToLower(c.LastName) + "|" + c.BirthDate[:4] }
