package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Contact is one generated customer record with three identifiers.
type Contact struct {
	Source, Key              string
	Email, Phone, CustomerID string
	// Person is the ground truth.
	Person int
}

// Contacts calls fn for n generated records of about n/2 people, spread over sources: each person
// has one to three records, each record an email, a phone number and a customer ID, with one or
// two of them missing or spelled differently (case, phone formats), so that linking needs
// normalisation and transitivity. Records come in no particular order; memory does not grow
// with n.
func Contacts(seed uint64, n int, sources []string, fn func(Contact) error) error {
	rng := rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5))
	counters := make([]int, len(sources))
	for person := 0; n > 0; person++ {
		copies := min(1+rng.IntN(3), n)
		n -= copies
		email := fmt.Sprintf("user%d@example%d.jp", person, person%97)
		phone := fmt.Sprintf("90%08d", person%100_000_000)
		customer := fmt.Sprintf("C%09d", person)
		for c := range copies {
			s := rng.IntN(len(sources))
			counters[s]++
			r := Contact{Source: sources[s], Key: fmt.Sprintf("%s-%09d", sources[s], counters[s]), Person: person}
			// Every record keeps at least one identifier its person's other records share.
			keep := rng.IntN(3)
			if keep == 0 || rng.IntN(4) > 0 {
				r.Email = email
				if rng.IntN(3) == 0 {
					r.Email = strings.ToUpper(email[:1]) + email[1:]
				}
			}
			if keep == 1 || rng.IntN(4) > 0 {
				r.Phone = []string{"0" + phone[:2] + "-" + phone[2:6] + "-" + phone[6:], "+81" + phone, "0" + phone}[rng.IntN(3)]
			}
			if keep == 2 || (c == 0 && rng.IntN(2) == 0) {
				r.CustomerID = customer
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
