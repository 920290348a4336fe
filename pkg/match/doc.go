// Package match links records that describe the same real-world entity when they share no
// reliable key: probabilistic record linkage in the Fellegi-Sunter model, with the model's
// parameters estimated from the data itself (no labelled pairs), in the way Splink does it.
//
// The engine is pure and in memory. [Link] takes a columnar [Dataset] and a [Config] and
// returns the linked pairs, the fitted [Model] and statistics:
//
//  1. Encoding (encode.go): every field is dictionary-encoded once, so equality is an integer
//     comparison, each distinct value is parsed (number, date) once, and value frequencies
//     come for free for term-frequency adjustments.
//  2. Blocking (blocking.go): each [BlockingRule] groups records on its key (records with a
//     null key field are left out); every pair inside a group is a candidate. A pair that
//     agrees on the key of an earlier rule is skipped, so each pair is compared once, by the
//     first rule that finds it. Groups larger than Config.MaxBlockSize are skipped whole and
//     reported, because a value shared by thousands of records ("unknown", a call centre's
//     phone number) says nothing about identity and would produce millions of useless pairs.
//  3. Comparison vectors (vectors.go, compare.go): every candidate pair gets one level per
//     [Comparison] (a small integer), computed in parallel. Identical vectors are counted
//     into a histogram, so estimation iterates over a few thousand distinct patterns rather
//     than tens of millions of pairs.
//  4. Estimation: u (how often non-matching records agree) comes from random record pairs
//     (usample.go), which are almost all non-matches, and, for exact agreement, from the exact
//     value frequencies. m (how often matching records agree) and the share of matches come
//     from expectation-maximisation (em.go) run once per blocking rule over the pairs that
//     rule produces, leaving out the comparisons of the rule's own fields, whose agreement the
//     rule forces. Finally the prior match probability over all record pairs is solved for, and
//     u is corrected for the few true matches the random pairs contain.
//  5. Scoring (score.go): each pair's match weight is the prior weight plus, per comparison,
//     log2(m/u) of the level it reached (0 for a null), optionally adjusted for how frequent
//     the agreed value is (tf.go). Pairs whose probability reaches Config.MatchThreshold are
//     returned as links; [Cluster] turns links into entities.
//
// [Model.Explain] shows, for any two records, every term of that sum. Similarity functions
// (similarity.go) work on bytes for ASCII and on runes otherwise, without allocating.
// Results are deterministic: they do not depend on the number of workers, and random pairs
// come from a fixed seed.
package match
