package envelope

// Detection of values that are already sealed, for writers that must not
// seal a ciphertext a second time. Unlike the parsers, detection is about
// what a value could be, not whether it opens: it covers every version the
// formats can express, including versions this package does not read yet,
// so that a value written by a newer release is not sealed again by an
// older one.

// IsSealedText reports whether s must be taken for the text form of a
// ciphertext: it starts with "fc", a digit, a lowercase letter and "."
// (LooksSealedText), whatever follows. A plaintext that starts that way
// cannot be told apart from a ciphertext and is taken for one.
func IsSealedText(s string) bool {
	return LooksSealedText(s)
}

// IsSealedBinary reports whether b must be taken for the binary form of a
// ciphertext: 0xFC, a version byte from 1 to 9 (the versions the text form
// can express), a known mode byte, and at least the shortest ciphertext of
// that mode. The header alone would match 1 in 256 random byte strings; all
// four conditions together match about 1 in 900,000 random strings long
// enough, and those are taken for ciphertexts.
func IsSealedBinary(b []byte) bool {
	if len(b) < 3 || b[0] != binaryMagic || b[1] < 1 || b[1] > 9 {
		return false
	}
	return checkLength(Mode(b[2]), len(b)-3) == nil
}

// maxOverhead is the most a ciphertext adds to its plaintext: Tink's
// prefix, then AES-GCM's 12-byte nonce and 16-byte tag (AES-SIV adds less).
const maxOverhead = tinkPrefix + 12 + 16

// MaxTextLen returns the length of the longest text form of a ciphertext of
// a plaintext of at most n bytes, in any mode.
func MaxTextLen(n int) int { return TextLen(n + maxOverhead) }

// MaxBinaryLen returns the length of the longest binary form of a
// ciphertext of a plaintext of at most n bytes, in any mode.
func MaxBinaryLen(n int) int { return 3 + n + maxOverhead }
