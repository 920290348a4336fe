// Package match links records that describe the same real-world entity when they share no
// reliable key: probabilistic record linkage in the Fellegi-Sunter model, with the model's
// parameters estimated from the data itself, without labelled pairs, in the way Splink does
// it. The engine is pure and in memory: no database, no cluster.
//
// [Link] takes a columnar [Dataset] and a [Config] and returns the linked pairs, the fitted
// [Model] and statistics; [Cluster] turns the pairs into entities; [Model.Explain] shows every
// term of any pair's weight. One run:
//
//  1. Encoding (encode.go): each field is dictionary-encoded once, so equality is an integer
//     comparison, everything that depends only on a value (number, date, character signature,
//     frequency) is computed once per distinct value, and a record's ids are laid out in one
//     row (records.go).
//  2. Blocking (blocking.go): each [BlockingRule] groups the records on its key, skipping
//     records with a null key field; every pair inside a group is a candidate. A pair that
//     also agrees on an earlier rule's key is skipped, so each pair is compared once, by the
//     first rule that finds it. A group larger than Config.MaxBlockSize is skipped whole and
//     reported in Result.Blocking: a value shared by thousands of records ("unknown", a
//     reception desk's phone) says nothing about identity and would cost millions of pairs.
//  3. Comparison vectors (vectors.go, compare.go, similarity.go): every candidate pair gets
//     one small integer per [Comparison], the first level its values satisfy, computed in
//     parallel. Cheap bounds from lengths and character signatures rule most dissimilar
//     values out before any Jaro-Winkler or Levenshtein is computed. Identical vectors are
//     counted, so estimation iterates over thousands of distinct patterns, not millions of
//     pairs.
//  4. u (usample.go): how often non-matching records reach each level comes from random record
//     pairs, which are nearly all non-matches; exact agreement from the exact value
//     frequencies. Both are later corrected for the few true matches they contain.
//  5. m and the prior (em.go): expectation-maximisation runs one session per blocking rule,
//     all fitted together with m shared. A session leaves out the comparisons of its rule's
//     fields (they agree by construction) and learns its own share of matches and its own u:
//     the non-matches a rule brings together agree on correlated fields (same postcode, same
//     suburb) far more than random pairs do. The prior match probability over all pairs is then
//     solved by maximum likelihood.
//  6. Dependence (dependence.go): comparisons that agree together among non-matches far more
//     than independence predicts (suburb, postcode and state name one place) are grouped, and
//     their joint agreement is weighed by its measured rate instead of the product.
//  7. Scoring (score.go, tf.go): a pair's match weight is the prior weight plus, per
//     comparison, log2(m/u) of its level (0 for a null), plus the term-frequency adjustment of
//     an exactly agreed value and the dependence adjustments. Pairs whose probability reaches
//     Config.MatchThreshold are the links.
//
// Results are deterministic: they do not depend on the number of workers, and random pairs
// come from a fixed seed.
package match
