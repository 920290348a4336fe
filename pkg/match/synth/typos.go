package synth

import (
	"math/rand/v2"
	"strconv"
)

// fieldWeights says how likely each field is to carry a modification: the long, hand-typed
// ones more than the state.
var fieldWeights = [numFields]float64{3, 3, 1, 2, 1.5, 2, 1, 0.5, 1.5, 1.5}

// modify applies one modification to a duplicate.
func modify(rng *rand.Rand, w *world, r *[numFields]string) {
	switch x := rng.Float64(); {
	case x < 0.05:
		r[givenName], r[surname] = r[surname], r[givenName]
	case x < 0.09:
		r[address1], r[address2] = r[address2], r[address1]
	case x < 0.22:
		r[pickField(rng)] = ""
	case x < 0.28:
		replace(rng, w, r)
	default:
		f := pickField(rng)
		r[f] = typo(rng, r[f], f >= dateOfBirth || f == streetNumber || f == postcode)
	}
}

func pickField(rng *rand.Rand) int {
	total := 0.0
	for _, v := range fieldWeights {
		total += v
	}
	x := rng.Float64() * total
	for f, v := range fieldWeights {
		if x < v {
			return f
		}
		x -= v
	}
	return givenName
}

// replace puts a new value in a field that people change or misremember: a house number, a
// street, a building, a date of birth off by a year.
func replace(rng *rand.Rand, w *world, r *[numFields]string) {
	switch rng.IntN(4) {
	case 0:
		r[streetNumber] = strconv.Itoa(streetNo(rng))
	case 1:
		r[address1] = w.street.draw(rng)
	case 2:
		r[address2] = w.building.draw(rng)
	default:
		if len(r[dateOfBirth]) == 8 {
			y, _ := strconv.Atoi(r[dateOfBirth][:4])
			r[dateOfBirth] = strconv.Itoa(y+1-2*rng.IntN(2)) + r[dateOfBirth][4:]
		}
	}
}

const (
	letters = "abcdefghijklmnopqrstuvwxyz"
	digits  = "0123456789"
)

// typo makes one character-level error: substitution, insertion, deletion, transposition,
// or, in text, a space inserted or removed.
func typo(rng *rand.Rand, s string, numeric bool) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	alphabet := letters
	if numeric {
		alphabet = digits
	}
	i := rng.IntN(len(b))
	op := rng.IntN(6)
	if numeric && op >= 4 {
		op = rng.IntN(4)
	}
	switch op {
	case 0: // substitution
		b[i] = alphabet[rng.IntN(len(alphabet))]
	case 1: // insertion
		b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
	case 2: // deletion
		if len(b) > 1 {
			b = append(b[:i], b[i+1:]...)
		}
	case 3: // transposition
		if len(b) > 1 {
			i = min(i, len(b)-2)
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4: // a space inserted
		if i > 0 {
			b = append(b[:i], append([]byte{' '}, b[i:]...)...)
		}
	default: // a space removed
		for j := range b {
			if b[j] == ' ' {
				b = append(b[:j], b[j+1:]...)
				break
			}
		}
	}
	return string(b)
}
