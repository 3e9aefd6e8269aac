package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzCanonicalMatchesJSON: the hand-written encoding is byte for byte what
// encoding/json produces for the same event (rows stored before it existed
// and rows stored after read the same way).
func FuzzCanonicalMatchesJSON(f *testing.F) {
	f.Add("open", "customer", "s.abc", "agent-7", "support", "Customer.Name", "<&>\"\\\n\t\b\f\x01\x7f", int64(1_800_000_000_123), 3)
	f.Add("seal", "ünïcödé", "\xff\xfe", "\u2028\u2029", "", "a", "", int64(0), 0)
	f.Add("forget", "", "", "", "", "", "", int64(-62135596800_000), -1)
	f.Fuzz(func(t *testing.T, op, typ, subject, actor, purpose, field, detail string, ms int64, n int) {
		e := Event{
			Time: time.UnixMilli(ms).UTC(), Op: Op(op), Type: typ, Subject: subject, Actor: actor, Purpose: purpose,
			Detail: detail, Records: n, Failed: n / 2, Outcome: "ok",
		}
		if field != "" {
			e.Opened, e.Sealed, e.Subjects = []string{field, detail}, []string{field}, []string{subject, actor}
			e.Masked, e.Refused = []string{detail}, []string{""}
		}
		want, jerr := json.Marshal(e)
		got, err := appendCanonical(nil, &e)
		if (err != nil) != (jerr != nil) {
			t.Fatalf("errors differ: %v vs encoding/json %v", err, jerr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("encodings differ:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkMarshalCanonical(b *testing.B) {
	e := event(1)
	e.Subjects = []string{"s.abc", "s.def"}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.MarshalCanonical(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
