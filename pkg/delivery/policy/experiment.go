package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// Assign places a profile in a campaign's experiment: in the holdout group, or in one variant.
// A nil experiment, or one without a variant of positive weight, assigns no variant.
//
// The assignment is a function of the campaign's and profile's names only, so every worker, every
// re-run and every future version assigns a profile the same way, and anyone can recompute it:
// it is SHA-256 of "<campaign>\x00<profileID>" (the zero byte keeps ("ab", "c") apart from
// ("a", "bc")). SHA-256 is chosen because it is specified once for all languages and databases
// (PostgreSQL's sha256(), Python's hashlib), and because its output is uniform however alike the
// profile IDs are (p-0000001, p-0000002), which a non-cryptographic hash such as FNV-1a does not
// promise. It costs about 100 ns, nothing beside sending the message.
//
// The digest's first 8 bytes, as a big-endian number u, decide the holdout: the profile is held
// out when u·100/2⁶⁴ < holdoutPercent. Its next 8 bytes, v, pick the variant: v·W/2⁶⁴ falls into
// one variant's span of the cumulative weights, W being their sum (100 for an admitted Campaign).
// Using separate bits makes the two choices independent: changing holdoutPercent moves profiles
// between the holdout and their own variant but never from one variant to another, and a smaller
// holdout keeps a subset of the larger one.
func Assign(campaign, profileID string, exp *cdpv1alpha1.Experiment) (variant string, holdout bool) {
	if exp == nil {
		return "", false
	}
	digest := sha256.Sum256([]byte(campaign + "\x00" + profileID))
	if bucket(binary.BigEndian.Uint64(digest[0:8]), 100) < uint64(max(exp.HoldoutPercent, 0)) {
		return "", true
	}
	var total uint64
	for _, v := range exp.Variants {
		total += uint64(max(v.Weight, 0))
	}
	if total == 0 {
		return "", false
	}
	// point < total, so the walk ends on a variant of positive weight.
	point := bucket(binary.BigEndian.Uint64(digest[8:16]), total)
	i := 0
	for point >= uint64(max(exp.Variants[i].Weight, 0)) {
		point -= uint64(max(exp.Variants[i].Weight, 0))
		i++
	}
	return exp.Variants[i].Name, false
}

// shardDomain prefixes the input of Shard's hash. A slash cannot occur in a campaign's name, so
// no call of Assign hashes the same input, and a profile's shard says nothing about its variant.
const shardDomain = "kizuna/shard\x00"

// Shard returns the worker shard, in [0, shards), that processes a profile: the first 8 bytes of
// SHA-256 of "kizuna/shard\x00<profileID>", as a big-endian number u, give u·shards/2⁶⁴. A shard
// count below 1 is one shard.
func Shard(profileID string, shards int) int {
	if shards <= 1 {
		return 0
	}
	digest := sha256.Sum256([]byte(shardDomain + profileID))
	return int(bucket(binary.BigEndian.Uint64(digest[0:8]), uint64(shards)))
}

// bucket maps a uniform 64-bit number onto [0, n) by multiplying and keeping the high word:
// it uses the number's top bits, and its bias, at most n/2⁶⁴, is far below anything measurable.
func bucket(u, n uint64) uint64 {
	hi, _ := bits.Mul64(u, n)
	return hi
}
