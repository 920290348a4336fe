// Package segment turns a Segment's rule tree into one parameterised SQL SELECT that returns the
// IDs of the matching profiles, for SQLite and for PostgreSQL, and evaluates the same rule in
// memory.
//
// [Compile] validates the rule against the declared profile attributes and event properties and
// writes the query; [Evaluate] computes the same answer with plain Go loops over a [Dataset]. The
// in-memory evaluator is the reference the SQL is tested against (a property test compares both
// on random rules and data, on both databases), and serves small previews.
//
// # The query
//
// One SELECT over the published profiles (namespace, resolution, slot). Every condition becomes a
// boolean expression that is never NULL, so that not and negate are exact complements. Attribute
// conditions read the profile's JSON in place. Event, RFM and segment-membership conditions read
// subqueries (common table expressions) that produce each profile at most once and are
// left-joined to the profiles, which both planners turn into hash or index joins instead of a
// subquery per profile. Event conditions on the same event type and filter share one
// subquery, which reads the events of the union of their windows through the events_by_type
// index once and aggregates each condition's own window in its own columns: "twice in 90 days
// but not in the last 30" reads and aggregates the purchases once. The events reach profiles
// through identity_links, joined event by event and aggregated once by profile. When every
// match must have events (the rule is such an event condition, or all of conditions one of
// which is), SQLite starts from that subquery's profiles; PostgreSQL picks its join order from
// its statistics.
//
// docs/benchmarks.md has the figures: on a two-core machine with a million profiles and ten
// million events, "at least two purchases in 90 days, none in 30, in Tokyo or Kanagawa" is
// evaluated in a few seconds on either database. RFM reads every event of its window (a
// year of purchases by default) and sorts the population twice per score: several seconds at
// that scale, most of it spilled to disk under PostgreSQL's default work_mem of 4 MB.
//
// Every value of a rule is a bound parameter. The only rule text written into SQL is attribute
// and property paths, after they matched the API's AttributeName pattern (lower-case letters,
// digits, underscores and dots) and were found among the declared fields; anything else is
// refused with an error that names the rule's path (spec.rule.all[1].attribute.path) and says
// what to write instead.
//
// # Values and missing values
//
// A path names one attribute as the DataSource mappings write it: address.city is the key
// "address.city", not a nested object. A value is read as its declared type: String, Number
// (float64), Boolean, Date or Timestamp (the store's {"$time": ...} objects). A value that is
// absent, null or of another JSON type is missing, and a missing value satisfies no operator but
// NotExists: NotEquals and NotIn skip it too, as SQL's NULL does. Not and negate are plain logical
// negation, so not(prefecture Equals 東京都) does include the profiles without a prefecture.
//
// Text compares byte by byte (COLLATE "C" in PostgreSQL), case-sensitively. Contains and Prefix
// take the value literally: % and _ are characters, not wildcards.
//
// # Time
//
// Options.Now is the evaluation's clock: windows are computed from it in Go and bound as
// parameters, never from the database's clock, and events that occurred after Now are not seen.
// Options.Location is where dates are read (UTC by default).
//
//   - A Date is a calendar day (ingestion stores it at midnight UTC). A Date compares with the
//     date an operand is written on: 2026-01-31, or the date part of 2026-01-31T23:00:00-05:00.
//   - A Timestamp is an instant. An operand written as a time is an instant; an operand written
//     as a date stands for that whole day in Location. Comparisons are of spans: Equals a date
//     is any time of that day, GreaterThan a date is from the next day on, LessThanOrEqual a
//     date is up to its end. Stored times keep nanoseconds and compare exactly.
//   - WithinLast d matches a Timestamp in [Now-d, Now] and a Date from the day of Now-d through
//     today, in Location; NotWithinLast d matches what is older. Future values match neither.
//   - AnniversaryThisMonth and AnniversaryWithinNext d compare the month and day: of a Date as
//     stored, of a Timestamp in Location. WithinNext matches the days from today through the
//     day of Now+d; a span of a year or more matches every value. A 29 February anniversary
//     falls, in common years, between 28 February and 1 March: it matches when both are in the
//     span. A Timestamp's month and day are read at the UTC offset Location has at Now, because
//     SQLite knows no time zones: exact for zones without daylight saving time (Asia/Tokyo), off
//     by the daylight saving shift for timestamps within an hour of midnight otherwise.
//
// # Conditions
//
// Identifier: the profile holds at least one identifier of the type. Reachable means the same
// for now: bounces, unsubscriptions and consent are not stored yet; they arrive with the
// delivery ledger, whose join will narrow it.
//
// Event: the events of the type reach profiles only through identity_links of the resolution.
// Where filters them by their properties with the attribute operators; within keeps the last
// duration, between a range whose dates are whole days in Location. Without count or sum one
// event is enough. A profile without matching events has a count and a sum of 0 and no first or
// last time: "count LessThan 1" and "sum LessThan 100" select it, firstPerformed and
// lastPerformed never do. A sum skips events without a numeric value of the property. "Did not"
// is not or negate around an event condition.
//
// Segment: the profile is a current member (segment_members) of the named segment of the same
// namespace. Cycles are the controller's to refuse.
//
// RFM: the population is the profiles with at least one event of the type in the window (365
// days by default). Recency is whole days since the latest of those events, frequency their
// number, monetary the sum of the amount property. Each score is ceil(5k/n), with n the
// population and k the number of profiles whose value is the same or worse: the best scores 5,
// the bottom fifth 1, and equal values score alike (NTILE would split ties by an arbitrary
// order, and most customers buy once). Profiles without events have no score and never match.
//
// RandomBucket: a salted hash of the profile ID puts it in one of 100 buckets, the same in
// SQLite, PostgreSQL and Go (see [Bucket] and bucket.go). PostgreSQL databases must be UTF8, as
// the store requires, so that ascii() returns code points.
//
// # Occurrences
//
// A campaign triggered by an event asks another question of the same events: who performed one
// of the type, passing where, among the events the store received in a window ([Occurrences]).
// [CompileOccurrences] parses its where with the parser of event conditions and writes it with
// the same SQL, so that a trigger and a segment read a filter alike; the window bounds
// received_at instead of occurred_at, so that consecutive windows see each event once however
// late it arrives. [EvaluateOccurrences] is its reference in memory.
package segment
