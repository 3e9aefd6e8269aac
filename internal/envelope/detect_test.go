package envelope

import (
	"bytes"
	"testing"
)

func TestIsSealed(t *testing.T) {
	ct := bytes.Repeat([]byte{1}, minRandomized)
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{append([]byte{binaryMagic, 1, 'a'}, ct...), true},
		{append([]byte{binaryMagic, 1, 'd'}, ct[:minDeterministic]...), true},
		{[]byte{binaryMagic, 9, 'a'}, false},                 // too short
		{append([]byte{binaryMagic, 2, 'd'}, ct...), true},   // a later version
		{append([]byte{binaryMagic, 0, 'a'}, ct...), false},  // no version 0
		{append([]byte{binaryMagic, 10, 'a'}, ct...), false}, // not a digit's worth
		{append([]byte{binaryMagic, 1, 'x'}, ct...), false},  // unknown mode
		{append([]byte{0xFB, 1, 'a'}, ct...), false},         // no magic
		{append([]byte{binaryMagic, 1, 'a'}, ct[:minRandomized-1]...), false},
	} {
		if got := IsSealedBinary(tc.b); got != tc.want {
			t.Errorf("IsSealedBinary(% x…) = %v, want %v", tc.b[:3], got, tc.want)
		}
	}
	for s, want := range map[string]bool{"fc1a.": true, "fc2z.x": true, "fc1a": false, "fc1A.x": false, "Fc1a.x": false, "": false} {
		if got := IsSealedText(s); got != want {
			t.Errorf("IsSealedText(%q) = %v, want %v", s, got, want)
		}
	}
	for _, n := range []int{0, 1, 100} {
		if got, want := MaxTextLen(n), TextLen(n+minRandomized); got != want {
			t.Errorf("MaxTextLen(%d) = %d, want %d", n, got, want)
		}
		if got, want := MaxBinaryLen(n), 3+n+minRandomized; got != want {
			t.Errorf("MaxBinaryLen(%d) = %d, want %d", n, got, want)
		}
	}
}
