// Package tokenize provides format-preserving encryption: FF1 (NIST SP
// 800-38G Rev. 1) and token formats built on it, for values that must keep
// their shape after protection — a card number that still fits its column,
// an SSN with its dashes, a phone number, an email address.
//
// It imports nothing else of fieldcrypt and can be used on its own.
//
// # FF1
//
// NewFF1 takes an AES key (128, 192 or 256 bits) and an alphabet of 2 to
// 65,536 distinct characters; the alphabet's order defines the numerals.
// Encrypt and Decrypt take a tweak of any length per call. Domain limits:
//
//   - radix^length must be at least 1,000,000 (MinDomain), as the standard
//     requires; shorter inputs fail with ErrDomainTooSmall. That is at least
//     6 digits, 4 characters of a 36-letter alphabet, or 20 bits.
//   - inputs are at most 4,096 characters (MaxLength; the standard allows
//     up to 2^32-1, but the math/big path's cost grows with the square of
//     the length, and no personal-data value needs more).
//
// Input that is not valid UTF-8 is refused (ErrInvalidUTF8 with an alphabet
// that is not all ASCII, an *InputError with one that is): an invalid byte
// would decode to U+FFFD and not survive the round trip.
//
// FF1 takes one of three paths by the size of the larger half,
// radix^ceil(n/2); all three give the same answers:
//
//   - below 2^64 (up to 38 decimal digits, 24 characters of base 36):
//     machine words. Each round is one AES block built in registers, one
//     division and an addition; nothing is allocated (CryptNumerals) but
//     the result string (Encrypt, Decrypt).
//   - below 2^128 (39 to 76 digits, 25 to 49 characters of base 36): pairs
//     of words, with a short Knuth division for the reduction; no
//     allocation either.
//   - beyond: math/big, with the halves kept as numbers across the rounds
//     and the numbers and buffers reused from a pool, so that a call
//     allocates nothing up to 8-word halves (about 300 digits) and a few
//     temporaries of big.Int's radix conversion beyond.
//
// On every path the CBC-MAC of P and of the tweak's whole blocks is
// computed once per call rather than once per round. Every path passes the
// NIST sample and ACVP vectors (testdata/ff1.json, ff1_more.json) and all
// of Project Wycheproof's AES-FF1 vectors (testdata/wycheproof; its legacy
// cases below MinDomain are refused, as Rev. 1 requires), each vector
// forced through every path that can take it, and agrees with a literal
// math/big transcription of the standard's Algorithm 7 on random keys,
// radixes, lengths and tweaks (TestPathsMatchReference,
// FuzzFF1Differential).
//
// An FF1 is immutable and safe for concurrent use. Its per-call working
// memory comes from a pool in 128-byte objects, so that goroutines on
// different CPUs never write to the same cache line: one shared cipher
// scales with the CPUs as AES itself does (BenchmarkFF1Parallel in bench).
//
// # Token formats
//
// A Tokenizer applies FF1 to the parts of a value that a Format enciphers
// (digits, SSN, PAN, phone, email, alnum; see Format). Tokenize and
// Detokenize bound their cost before they look at the input:
//
//   - a value or token longer than MaxInputBytes (16,384) bytes is refused
//     with ErrTooLong at once, whatever the format;
//   - one that is not valid UTF-8 is refused with a *FormatError wrapping
//     ErrInvalidUTF8;
//   - email and alnum count the characters they would encipher first and
//     refuse a domain of more than MaxLength bits (about 1,233 digits or
//     871 letters) with ErrTooLong, before any math/big arithmetic.
//
// So no call costs more than time linear in at most MaxInputBytes bytes
// before it is refused: refusing a 1 MiB value takes nanoseconds and
// allocates nothing (BenchmarkRefuseLongInput).
//
// Every other refusal is a *FormatError wrapping ErrInvalidValue, which
// names the format and a position, never the value.
//
// FF3 and FF3-1 are not provided: NIST's 2025 draft of SP 800-38G Rev. 1
// withdraws them.
//
// # What FF1 does not hide
//
// FF1 is deterministic: with the same key and tweak, equal inputs give equal
// outputs. That is what makes tokens joinable, and it means anyone who sees
// tokens learns which values are equal. Small domains are weak even above
// the minimum: an attacker who can obtain tokens for chosen values can
// tokenize all of a million-value domain. Where what would be tokenized is
// small (few digits left once kept parts are removed), the token formats
// refuse rather than produce a weak token; such values need vaulted
// (random, stored) tokens instead.
package tokenize
