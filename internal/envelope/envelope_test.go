package envelope

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func ciphertext(n int) []byte {
	ct := make([]byte, n)
	for i := range ct {
		ct[i] = byte(i*31 + 7)
	}
	return ct
}

func TestTextRoundTrip(t *testing.T) {
	for _, version := range []int{V1, V2} {
		for _, mode := range []Mode{Randomized, Deterministic} {
			for _, n := range []int{minRandomized, 34, 35, 36, 100, 1000} {
				ct := ciphertext(n)
				text := string(AppendText(nil, version, mode, ct))
				if len(text) != TextLen(n) {
					t.Errorf("TextLen(%d) = %d, text is %d", n, TextLen(n), len(text))
				}
				if !strings.HasPrefix(text, "fc"+strconv.Itoa(version)+string(rune(mode))+".") || !LooksSealedText(text) {
					t.Errorf("text %q has the wrong prefix", text[:8])
				}
				gotVersion, gotMode, got, err := ParseText(text, nil)
				if err != nil || gotVersion != version || gotMode != mode || !bytes.Equal(got, ct) {
					t.Fatalf("ParseText(AppendText(%d, %c, %d bytes)) = %d, %c, %d bytes, %v", version, mode, n, gotVersion, gotMode, len(got), err)
				}
				scratch := []byte("prefix")
				_, _, got, err = ParseText(text, scratch)
				if err != nil || !bytes.Equal(got, ct) {
					t.Fatalf("ParseText with scratch = %v", err)
				}
				// With room, the ciphertext is decoded in place right
				// after scratch's contents, which are kept.
				room := make([]byte, 3, 3+2*len(text))
				copy(room, "abc")
				_, _, got, err = ParseText(text, room)
				if err != nil || !bytes.Equal(got, ct) || string(room[:3]) != "abc" || &got[0] != &room[:4][3] {
					t.Fatalf("ParseText into room: %v, prefix %q, ct at its start: %v", err, room[:3], len(got) > 0 && &got[0] == &room[:4][3])
				}
			}
		}
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	ct := ciphertext(40)
	for _, version := range []int{V1, V2} {
		b := AppendBinary(nil, version, Deterministic, ct)
		if b[0] != 0xFC || b[1] != byte(version) || b[2] != 'd' {
			t.Fatalf("binary header = % x", b[:3])
		}
		gotVersion, mode, got, err := ParseBinary(b)
		if err != nil || gotVersion != version || mode != Deterministic || !bytes.Equal(got, ct) {
			t.Fatalf("ParseBinary = %d, %c, %v", gotVersion, mode, err)
		}
	}
}

func TestAppendUnknownVersionPanics(t *testing.T) {
	for _, v := range []int{0, 3, 9} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendText with version %d did not panic", v)
				}
			}()
			AppendText(nil, v, Randomized, ciphertext(40))
		}()
	}
}

func TestParseTextRejects(t *testing.T) {
	valid := string(AppendText(nil, V1, Randomized, ciphertext(40)))
	body := valid[TextPrefixLen:]
	cases := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrNotSealed},
		{"plaintext", "alice@example.com", ErrNotSealed},
		{"prefix only uppercase", "FC1a." + body, ErrNotSealed},
		{"future version", "fc3a." + body, ErrUnsupportedVersion},
		{"version zero", "fc0a." + body, ErrUnsupportedVersion},
		{"unknown mode", "fc1x." + body, ErrMalformed},
		{"empty body", "fc1a.", ErrMalformed},
		{"too short randomized", string(AppendText(nil, V1, Randomized, ciphertext(minRandomized-1))), ErrMalformed},
		{"too short deterministic", string(AppendText(nil, V1, Deterministic, ciphertext(minDeterministic-1))), ErrMalformed},
		{"standard alphabet", "fc1a." + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+/", ErrMalformed},
		{"padding", "fc1a." + body + "=", ErrMalformed},
		{"newline", "fc1a." + body[:10] + "\n" + body[10:], ErrMalformed},
		{"carriage return", "fc1a." + body[:10] + "\r" + body[10:], ErrMalformed},
		{"space", "fc1a." + body[:10] + " " + body[10:], ErrMalformed},
		{"dangling base64 character", "fc1a." + body + "AAA", ErrMalformed},
	}
	for _, tc := range cases {
		_, _, _, err := ParseText(tc.in, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseText = %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && len(tc.in) > 12 && strings.Contains(err.Error(), tc.in[5:12]) {
			t.Errorf("%s: error %q echoes the value", tc.name, err)
		}
	}
}

// TestParseTextCanonical checks that no two texts decode to one ciphertext:
// a 41-byte ciphertext leaves unused bits in its last base64 character, and
// setting them must be refused.
func TestParseTextCanonical(t *testing.T) {
	valid := string(AppendText(nil, V1, Randomized, ciphertext(41)))
	last := valid[len(valid)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		c := alphabet[i]
		if c == last {
			continue
		}
		_, _, got, err := ParseText(valid[:len(valid)-1]+string(c), nil)
		if err == nil && bytes.Equal(got, ciphertext(41)) {
			t.Fatalf("last character %q decodes to the same ciphertext as %q", c, last)
		}
	}
}

func TestParseBinaryRejects(t *testing.T) {
	ct := ciphertext(40)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrNotSealed},
		{"plaintext", []byte("hello"), ErrNotSealed},
		{"header only", []byte{0xFC, 1, 'a'}, ErrMalformed},
		{"future version", append([]byte{0xFC, 3, 'a'}, ct...), ErrUnsupportedVersion},
		{"version zero", append([]byte{0xFC, 0, 'a'}, ct...), ErrUnsupportedVersion},
		{"unknown mode", append([]byte{0xFC, 1, 'z'}, ct...), ErrMalformed},
		{"too short", append([]byte{0xFC, 1, 'a'}, ct[:minRandomized-1]...), ErrMalformed},
	}
	for _, tc := range cases {
		if _, _, _, err := ParseBinary(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseBinary = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestAssociatedDataLayout freezes the byte layout: changing it would make
// every stored ciphertext unreadable.
func TestAssociatedDataLayout(t *testing.T) {
	got := hex.EncodeToString(AppendAssociatedData(nil, "cust-1", "Customer", "Email"))
	want := hex.EncodeToString([]byte("fieldcrypt/field/v1")) +
		"00000006" + hex.EncodeToString([]byte("cust-1")) +
		"00000008" + hex.EncodeToString([]byte("Customer")) +
		"00000005" + hex.EncodeToString([]byte("Email"))
	if got != want {
		t.Errorf("AD =\n %s\nwant\n %s", got, want)
	}
}

func TestAssociatedDataIsInjective(t *testing.T) {
	parts := [][3]string{
		{"ab", "c", "d"}, {"a", "bc", "d"}, {"a", "b", "cd"}, {"abc", "", "d"},
		{"", "abc", "d"}, {"a", "", "bcd"}, {"a\x00", "b", "c"}, {"a", "\x00b", "c"},
	}
	seen := map[string][3]string{}
	for _, p := range parts {
		ad := string(AppendAssociatedData(nil, p[0], p[1], p[2]))
		if prev, ok := seen[ad]; ok {
			t.Errorf("%q and %q give the same associated data", prev, p)
		}
		seen[ad] = p
	}
}

func FuzzParseText(f *testing.F) {
	requireSeeds(f, "FuzzParseText")
	f.Add(string(AppendText(nil, V1, Randomized, ciphertext(40))))
	f.Fuzz(func(t *testing.T, s string) {
		version, mode, ct, err := ParseText(s, nil)
		if err != nil {
			return
		}
		// Whatever parses must be exactly what we would write.
		if again := string(AppendText(nil, version, mode, ct)); again != s {
			t.Fatalf("ParseText accepted a non-canonical text: %q re-encodes as %q", s, again)
		}
	})
}

func FuzzParseBinary(f *testing.F) {
	requireSeeds(f, "FuzzParseBinary")
	f.Add(AppendBinary(nil, V1, Deterministic, ciphertext(30)))
	f.Fuzz(func(t *testing.T, b []byte) {
		version, mode, ct, err := ParseBinary(b)
		if err != nil {
			return
		}
		if again := AppendBinary(nil, version, mode, ct); !bytes.Equal(again, b) {
			t.Fatalf("ParseBinary accepted % x, which re-encodes as % x", b, again)
		}
	})
}

// requireSeeds fails if the checked-in seed corpus is missing, so that a
// fuzz target can never silently run on nothing but f.Add.
func requireSeeds(f *testing.F, name string) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
	if err != nil || len(entries) == 0 {
		f.Fatalf("seed corpus testdata/fuzz/%s is empty or missing: %v", name, err)
	}
}

// BenchmarkText measures the text form alone, for a 32-byte field sealed
// with AES-GCM (a 65-byte Tink ciphertext): the cost base64 adds to every
// string field, to set against the AEAD's own cost in bench/.
func BenchmarkText(b *testing.B) {
	ct := ciphertext(5 + 12 + 32 + 16)
	text := string(AppendText(nil, V1, Randomized, ct))
	var buf []byte
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendText(buf[:0], V1, Randomized, ct)
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		scratch := make([]byte, 0, 2*len(text))
		for b.Loop() {
			if _, _, _, err := ParseText(text, scratch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAssociatedDataVectors checks both layouts, and the position steps,
// against testdata/associated_data.txt, assembled independently of this
// code (see the file's header).
func TestAssociatedDataVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "associated_data.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The position steps of the vectors with a position, in file order,
	// made by this package's step functions.
	steps := [][]byte{
		AppendIndexStep(nil, 2),
		AppendStringKeyStep(AppendIndexStep(nil, 0), "home"),
		AppendUintKeyStep(AppendIntKeyStep(nil, -1), 258),
	}
	var n, withPosition int
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		col := strings.Split(line, "\t")
		if len(col) != 7 {
			t.Fatalf("vector %q: want 7 columns, got %d", line, len(col))
		}
		position, err1 := hex.DecodeString(col[4])
		want, err2 := hex.DecodeString(col[6])
		if err1 != nil || err2 != nil {
			t.Fatalf("vector %q: bad hex", line)
		}
		var got []byte
		switch col[0] {
		case "1":
			got = AppendAssociatedData(nil, col[1], col[2], col[5])
		case "2":
			got = AppendAssociatedDataV2(nil, col[1], col[2], col[3], position, col[5])
		default:
			t.Fatalf("vector %q: unknown version", line)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("vector %d: AD =\n %x\nwant\n %x", n, got, want)
		}
		if len(position) > 0 {
			if withPosition >= len(steps) || !bytes.Equal(steps[withPosition], position) {
				t.Errorf("vector %d: position steps do not match the step functions", n)
			}
			withPosition++
		}
		n++
	}
	if n < 6 || withPosition != len(steps) {
		t.Fatalf("read %d vectors (%d with a position); the file is incomplete", n, withPosition)
	}
}

func TestAssociatedDataV2IsInjective(t *testing.T) {
	type parts struct{ subject, scope, record, position, field string }
	cases := []parts{
		{"ab", "c", "d", "", "e"}, {"a", "bc", "d", "", "e"}, {"a", "b", "cd", "", "e"},
		{"a", "b", "c", "d", "e"}, {"a", "b", "", "cd", "e"}, {"a", "b", "c", "de", ""},
		{"a", "b", "c", "", "de"}, {"a", "b", "", "", "cde"},
	}
	seen := map[string]parts{}
	for _, p := range cases {
		ad := string(AppendAssociatedDataV2(nil, p.subject, p.scope, p.record, []byte(p.position), p.field))
		if prev, ok := seen[ad]; ok {
			t.Errorf("%q and %q give the same associated data", prev, p)
		}
		seen[ad] = p
	}
	// A version 1 and a version 2 associated data never coincide.
	if bytes.Equal(AppendAssociatedData(nil, "a", "b", "c"), AppendAssociatedDataV2(nil, "a", "b", "", nil, "c")) {
		t.Error("v1 and v2 associated data coincide")
	}
	// Steps are self-delimiting: index 0 then key "x" differs from key
	// "x" then index 0, and from one key holding both.
	a := AppendStringKeyStep(AppendIndexStep(nil, 0), "x")
	b := AppendIndexStep(AppendStringKeyStep(nil, "x"), 0)
	if bytes.Equal(a, b) {
		t.Error("step order is lost")
	}
}
