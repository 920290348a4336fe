package segment

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The bucket hash must be computed identically by SQLite, PostgreSQL and Go, with nothing but
// the SQL both databases share: no md5 in SQLite, no loops over characters without a recursive
// query per profile. It is a salted linear hash of the profile ID's last bucketChars characters:
//
//	bucket = (Σ_k codepoint(k-th character from the end) × a_k  mod  2³¹−1)  mod 100
//
// where the coefficients a_1…a_16 in [1, 2³¹−2] come from SHA-256 of the salt. Minted profile
// IDs end in 16 base32 characters of a SHA-256 (80 random bits), so their buckets are uniform,
// and different salts draw nearly independent coefficients, so their samples are nearly
// independent. Hashing by coefficients rather than by concatenating salt and ID keeps the SQL to
// sixteen multiplications per profile. Products of a coefficient and a code point (below 2²¹)
// stay below 2⁵², so the sum of sixteen fits in a signed 64-bit integer in both databases.
// It is not a cryptographic hash: nobody gains by predicting a sample.
const (
	bucketPrime = 2147483647
	bucketChars = 16
	buckets     = 100
)

// bucketCoefficients derives a salt's coefficients.
func bucketCoefficients(salt string) [bucketChars]int64 {
	var a [bucketChars]int64
	for i := range a {
		sum := sha256.Sum256([]byte(salt + "\x00" + strconv.Itoa(i)))
		a[i] = int64(binary.BigEndian.Uint64(sum[:8])%(bucketPrime-1)) + 1
	}
	return a
}

// Bucket returns the bucket, 0 to 99, that a RandomBucket condition with salt puts a profile in.
func Bucket(salt, profileID string) int {
	return bucketOf(bucketCoefficients(salt), profileID)
}

func bucketOf(a [bucketChars]int64, profileID string) int {
	runes := []rune(profileID)
	var sum int64
	for k := 1; k <= bucketChars && k <= len(runes); k++ {
		sum += int64(runes[len(runes)-k]) * a[k-1]
	}
	return int(sum % bucketPrime % buckets)
}

// bucket compiles a RandomBucket test.
func (c *compiler) bucket(t *bucketTest) string {
	a := bucketCoefficients(t.salt)
	terms := make([]string, bucketChars)
	for i := range terms {
		k := i + 1
		// A character before the first, in an ID shorter than 16, counts as 0: SQLite's substr
		// then returns '' and unicode('') NULL; PostgreSQL's returns '' and ascii('') 0.
		if c.pg {
			terms[i] = fmt.Sprintf("ascii(substr(p.profile_id, length(p.profile_id) - %d, 1)) * %s", k-1, c.integer(a[i]))
		} else {
			terms[i] = fmt.Sprintf("COALESCE(unicode(substr(p.profile_id, -%d, 1)), 0) * %s", k, c.integer(a[i]))
		}
	}
	return fmt.Sprintf("((%s) %% %d %% %d BETWEEN %s AND %s)", strings.Join(terms, " + "), bucketPrime, buckets, c.integer(t.from), c.integer(t.to))
}
