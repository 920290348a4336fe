package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBucketIsStable pins a few buckets: changing the hash would move every profile of every
// running sample and A/B split to another bucket.
func TestBucketIsStable(t *testing.T) {
	for _, c := range []struct {
		salt, id string
		want     int
	}{
		{"spring", "cus-abcdefghijklmnop", 34},
		{"spring", "c01", 68},
		{"テスト", "顧客-😀", 60},
		{"a", "", 0},
	} {
		if got := Bucket(c.salt, c.id); got != c.want {
			t.Errorf("Bucket(%q, %q) = %d, want %d", c.salt, c.id, got, c.want)
		}
	}
}

// mintedIDs are IDs like the ones resolution mints: a prefix and 16 random base32 characters.
func mintedIDs(r *rand.Rand, n int) []string {
	const base32 = "abcdefghijklmnopqrstuvwxyz234567"
	ids := make([]string, n)
	for i := range ids {
		b := []byte("cus-")
		for range 16 {
			b = append(b, base32[r.IntN(32)])
		}
		ids[i] = string(b)
	}
	return ids
}

// TestBucketsAreUniform: minted IDs spread evenly over the 100 buckets, and two salts choose
// nearly independent samples.
func TestBucketsAreUniform(t *testing.T) {
	const n = 50000
	ids := mintedIDs(rand.New(rand.NewPCG(1, 2)), n)
	for _, salt := range []string{"a", "spring-sale", "テスト"} {
		var counts [buckets]float64
		for _, id := range ids {
			counts[Bucket(salt, id)]++
		}
		// Pearson's chi-squared with 99 degrees of freedom: 99 on average, above 160 about
		// once in ten thousand uniform samples.
		expected, chi2 := float64(n)/buckets, 0.0
		for _, c := range counts {
			chi2 += (c - expected) * (c - expected) / expected
		}
		if chi2 > 160 {
			t.Errorf("salt %q: chi-squared %.0f over 100 buckets: not uniform; counts %v", salt, chi2, counts)
		}
	}
	// A tenth of the profiles with one salt, a tenth with another: about a hundredth in both.
	both := 0
	for _, id := range ids {
		if Bucket("a", id) < 10 && Bucket("spring-sale", id) < 10 {
			both++
		}
	}
	if share := float64(both) / n; share < 0.008 || share > 0.012 {
		t.Errorf("%.4f of the profiles are in the first tenth of both salts, want about 0.01: the salts are not independent", share)
	}
}

// TestBucketInSQL: both databases put every profile in the bucket Bucket computes, for IDs of
// any length and alphabet.
func TestBucketInSQL(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := Dataset{Profiles: []Profile{{ID: "x"}, {ID: "顧客-😀"}, {ID: "ab"}, {ID: "0123456789abcdefghij"}, {ID: "ÿ"}}}
	for i, id := range mintedIDs(r, 150) {
		data.Profiles = append(data.Profiles, Profile{ID: id}, Profile{ID: fmt.Sprintf("short-%d", i)})
	}
	dbs := openDatabases(t)
	for _, d := range dbs {
		d.write(t, data)
	}
	for _, salt := range []string{"spring", "テスト"} {
		want := make([][]string, buckets)
		for _, p := range data.Profiles {
			b := Bucket(salt, p.ID)
			want[b] = append(want[b], p.ID)
		}
		for _, w := range want {
			slices.Sort(w)
		}
		for _, d := range dbs {
			for b := range buckets {
				rule := one(bucket(salt, int32(b), int32(b)))
				q, err := Compile(&rule, fixtureOptions(d.dialect))
				if err != nil {
					t.Fatal(err)
				}
				got := d.query(t, q, false)
				if !slices.Equal(got, want[b]) {
					t.Errorf("%s, salt %q, bucket %d: got %v, want %v", d.dialect, salt, b, got, want[b])
				}
			}
		}
	}
}
