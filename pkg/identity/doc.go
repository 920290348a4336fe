// Package identity normalises customer identifiers before identity resolution (名寄せ) compares
// them.
//
// The records of one customer arrive from a CRM, a marketing tool, scanned business cards and
// e-commerce orders, and each writes the same identifier its own way: ㈱ABC, (株)ＡＢＣ, ABC株式会社;
// 03-1234-5678, (03)1234-5678, +81 3 1234 5678; 〒123-4567, 1234567; full-width letters and
// digits, half-width katakana, ideographic spaces (U+3000) and a dozen dash characters.
// Resolution links records whose normalised identifiers are equal, so every spelling of one value
// must normalise to the same string, and a value that is not an identifier of its type at all
// (an address without @, a phone number too short to dial) must be rejected rather than turned
// into a key that would link strangers.
//
// Every normaliser is a pure function returning the normalised value and whether it is valid.
// Outputs never contain control characters: resolution joins values with U+001F. The phone and
// company-name normalisers depend on configuration (the default phone region, extra legal
// forms) and are methods of [Normalizer]; the others are plain functions.
//
// Resolution normalises every identifier of every record, tens of millions per run, so the
// common cases are written to avoid allocation: ASCII input skips Unicode normalisation (NFKC),
// input that is already normal is returned as is or as a substring, and Japanese phone numbers
// in the usual formats are turned into E.164 without the phone-number library, whose parser
// costs microseconds per number; tests check that this fast path agrees with the library.
package identity
