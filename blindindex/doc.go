// Package blindindex computes blind indexes: keyed, truncated hashes of
// normalised plaintext, stored beside an encrypted field so that a
// database can find rows by equality (WHERE idx = ANY($1)) without ever
// seeing the plaintext. It is the engine under pii's index fields and
// usable on its own; it imports nothing else of fieldcrypt.
//
// # Pieces
//
//   - A Transform normalises a value ("trim+fold"), so that values a person
//     considers equal get equal terms.
//   - A Definition says what an index computes: one Transform per value
//     (several for a compound index), the term size in bits, and whether
//     it is slow.
//   - A RootKey (32 bytes, one per key version) is the secret every index
//     key of that version is derived from. Keep it apart from token and
//     record-addressing keys.
//   - A Key is prepared once per (Name, Definition, version); its Term is
//     then one HMAC-SHA256 (plus the transforms). A Keyring holds the Keys
//     of every version still in use: Term writes with the newest, Terms
//     gives the terms a lookup needs.
//   - Recommend is the planner: how many bits, how many false positives,
//     and what the index leaks.
//
// # Transform grammar
//
// A transform spec is a list of steps joined by '+', with no spaces and no
// commas (so that it fits inside a comma-separated struct tag, as in
// `pii:"index=Email,transform=trim+fold,bits=16"`). Steps are written in
// the order they apply, and that order is fixed; writing them in another
// order, twice, or two steps of the same row together is a *SpecError, so
// every transform has exactly one spelling (Transform.String):
//
//	order  step           effect
//	1      nfc | nfkc     Unicode normalisation form C or KC (golang.org/x/text/unicode/norm)
//	2      trim           remove leading and trailing Unicode white space
//	3      email-local    the part before the last '@' (case kept; add fold)
//	       email-domain   the part after the last '@', as a lowercase IDNA A-label
//	                      (UTS #46 lookup mapping: "Bücher.Example" → "xn--bcher-kva.example"),
//	                      without a trailing root dot
//	4      fold           Unicode full case folding (golang.org/x/text/cases Fold; no Turkic tailoring)
//	5      digits         keep the ASCII digits 0-9 only (nfkc first turns fullwidth digits into ASCII)
//	6      firstN | lastN the first / last N code points, 1 ≤ N ≤ 1024 (all of the value if shorter, no padding)
//
// Examples: "trim+fold" (emails, usernames), "nfkc+trim+fold" (names),
// "digits+last4" (card or phone last four), "trim+email-domain",
// "nfkc+trim+fold+first3" (name prefix). The empty spec is the identity,
// which accepts any bytes; every other transform refuses a value that is
// not valid UTF-8, and email-local / email-domain refuse a value without a
// non-empty part on each side of an '@' or with an invalid domain, with a
// *ValueError that never holds the value. A valid UTF-8 value always gives
// a valid UTF-8 result. testdata/transforms.json pins the outputs.
//
// Other options of an index, for a tag grammar to embed: bits (ParseBits,
// MinBits to MaxBits, default DefaultBits = 16) and slow (ParseSlow: ""
// for DefaultSlow, or "m65536+t3+p1", parts in the order m, t, p, each
// optional).
//
// # Construction
//
// With the version's root key:
//
//	termKey = HKDF-SHA256(ikm = root key, salt = none, 32 bytes,
//	          info = lp("fieldcrypt blindindex v1 term key") || u32(version)
//	              || lp(scope) || lp(field) || lp(index)
//	              || u32(#inputs) || lp(transform_1) ... || u32(bits)
//	              || 0x00 | 0x01 || u32(m KiB) || u32(t) || u8(p))
//	msg     = u32(#values) || lp(value'_1) || ... (value' = the value transformed)
//	h       = HMAC-SHA256(termKey, msg)
//	h       = Argon2id(password = h, salt = HMAC-SHA256(termKey, "fieldcrypt blindindex v1 argon2id salt")[:16],
//	                   t, m, p, 32 bytes)                                   (slow only)
//	term    = the first bits of h (the unused low bits of the last byte zero)
//
// where lp(x) is u32(len(x)) || x and u32 is 4 bytes big-endian. Compound
// values cannot be confused (("ab","c") ≠ ("a","bc")), and the whole
// Definition is bound into the key: two indexes over the same field with
// different bits, transforms or slow parameters have unrelated terms (a
// 16-bit term is not a prefix of the 32-bit one), and changing a
// Definition is like a new key version: re-index. testdata/terms.json
// holds terms computed from this description by a second implementation
// (testdata/gen_terms.py); HMAC-SHA256, HKDF and Argon2id are checked
// against RFC 4231, RFC 5869 and the Argon2 reference vectors.
//
// A Term prints as "v" VERSION ":" lowercase hex, as in "v2:3fa0c1", the
// same length for every term of a version and bits, so that a scan can
// find the rows of an old version (LIKE 'v1:%'); its binary form is the
// version as 4 bytes big-endian, then the hash bytes.
//
// # Slow indexes
//
// A fast index costs an attacker who holds the index key one HMAC per
// guess: a space of 10^9 SSNs or 40,000 dates of birth is searched in
// seconds. With slow, every guess also costs one Argon2id (the HMAC comes
// first, so the key is needed, and then the Argon2id cannot be skipped or
// shared between guesses, since its salt is derived from the key).
// DefaultSlow is OWASP's m = 19 MiB, t = 2, p = 1: about 22 ms per term
// on one core here, so 10^9 guesses cost about 250 core-days per key
// version, and writing 100,000 rows costs about 37 core-minutes. A lookup
// pays one Argon2id per live key version. Lighter parameters (m4096+t1:
// about 2 ms; m1024+t1: about 1 ms) are a trade-off to make with the planner's figures in hand.
//
// # What an index leaks
//
// Whoever holds the table (a backup, a read replica, an SQL injection) but
// not the keys learns:
//
//   - Equality. Rows with equal (normalised) values always have equal
//     terms. With N rows and b bits the rows fall into classes of about
//     N/2^b rows; a class mixes several values only when there are more
//     distinct values than 2^b, so truncation is what keeps an equal term
//     from proving an equal value. The planner (Recommend) applies
//     CipherSweet's rule, 2 ≤ rows per term ≤ √N.
//   - Frequency. Class sizes are visible. Matched against known
//     distributions (common surnames, big email providers, birth years),
//     the largest classes give their values away, the more so the fewer
//     the distinct values. A transform that keeps little (last4,
//     email-domain) makes this easier; a compound index makes it harder.
//   - Several indexes together. An attacker intersects the classes of
//     every index of a row, so their bits add up (PlanInput.Others).
//   - Queries. Whoever sees the queries sees which class is asked for, and
//     how often.
//   - A stolen index key turns terms back into a guessing game: one HMAC
//     per guess, or one Argon2id with slow.
//
// And after erasure: an index keyed by global keys survives a subject's
// crypto-shredding. Forget destroys the subject's key and so the
// ciphertext, but the truncated term stays in the row until the
// application clears it, and it still places the row in its class of
// about N/2^b rows (at least 2 at the planner's bits, so it does not name
// the row's value by itself, yet anyone who knows or guesses the value can
// confirm that the row is in its class). An index derived from the
// subject's own key (subject-scoped: lookups within one person) dies with
// that key.
//
// # Concurrency
//
// Keys, Keyrings, Transforms and Definitions are safe for concurrent use.
package blindindex
