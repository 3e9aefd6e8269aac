package subjectkey

import "testing"

// BenchmarkNewSubjectKeys is a new subject's keys before the KEK and the
// store: generate the bundle, serialize it (what the KEK wraps) and make
// its primitives (what the cache holds).
func BenchmarkNewSubjectKeys(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		bundle, err := New()
		if err != nil {
			b.Fatal(err)
		}
		raw, err := bundle.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		Zero(raw)
		if _, err := bundle.Keys(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSubjectKeys is the keyset parsing of an evicted key's
// Open, after the store read and the unwrap: Parse and the primitives.
func BenchmarkParseSubjectKeys(b *testing.B) {
	bundle, err := New()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := bundle.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Keys(); err != nil {
			b.Fatal(err)
		}
	}
}

// Parts of BenchmarkNewSubjectKeys, to see where its time goes.
func BenchmarkNewSubjectKeysParts(b *testing.B) {
	b.Run("generate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := New(); err != nil {
				b.Fatal(err)
			}
		}
	})
	bundle, err := New()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := bundle.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			Zero(raw)
		}
	})
	b.Run("primitives", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bundle.Keys(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
