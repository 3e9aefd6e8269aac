package pii_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// redactSecrets are the plaintexts of sampleCustomer's protected fields.
var redactSecrets = []string{"Ada Lovelace", "ada@example.com", "prefers email", "Countess", "A. A. Lovelace",
	"Ada King", "first", "second", "St James", "SW1Y", "Analytical", "EC1", "7700 900123", "7946 0000", "7946 0001", "yes"}

func redactCheckClean(t *testing.T, out string, shown ...string) {
	t.Helper()
	for _, s := range redactSecrets {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
	for _, s := range shown {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %s:\n%s", s, out)
		}
	}
}

// redactRawLogger is a model whose own LogValue method leaks: the handler must
// redact what it returns.
type redactRawLogger struct{ c Customer }

func (r redactRawLogger) LogValue() slog.Value { return slog.AnyValue(r.c) }

type RedactOrder struct {
	Ref      string
	Buyer    Customer
	Previous *Customer
	Lines    []Customer
}

func TestRedactingHandlerRedactsEverywhere(t *testing.T) {
	c := sampleCustomer("cust-h")
	cp := &c
	cases := []struct {
		name  string
		log   func(l *slog.Logger)
		shown []string
	}{
		{"value", func(l *slog.Logger) { l.Info("m", "c", c) }, []string{`"c":{"ID":"cust-h","Name":"[redacted]"`, `"Tier":3`}},
		{"pointer", func(l *slog.Logger) { l.Info("m", "c", &cp) }, []string{`"ID":"cust-h"`, `"City":"London"`}},
		{"slice", func(l *slog.Logger) { l.Info("m", "cs", []Customer{c, c}) }, []string{`"cs":{"0":{"ID":"cust-h"`, `"1":{"ID":"cust-h"`}},
		{"slice of pointers", func(l *slog.Logger) { l.Info("m", "cs", []*Customer{cp, nil}) }, []string{`"1":null`}},
		{"array", func(l *slog.Logger) { l.Info("m", "cs", [1]Customer{c}) }, []string{`"cs":{"0":{"ID":"cust-h"`}},
		{"map", func(l *slog.Logger) { l.Info("m", "cs", map[string]Customer{"b": c, "a": c}) }, []string{`"cs":{"a":{"ID":"cust-h"`}},
		{"map with struct keys", func(l *slog.Logger) { l.Info("m", "cs", map[Phone]int{{Kind: "k", Number: "+44 7700 900123"}: 1}) }, []string{`"[redacted]#0":1`}},
		{"nested", func(l *slog.Logger) {
			l.Info("m", "o", RedactOrder{Ref: "o-1", Buyer: c, Previous: cp, Lines: []Customer{c}})
		}, []string{`"Ref":"o-1"`, `"Lines":{"0":{"ID":"cust-h"`}},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("g", "c", c, slog.Group("h", "p", c.Phones))) }, []string{`"g":{"c":{"ID":"cust-h"`, `"h":{"p":{"0":{"Kind":"mobile"`}},
		{"attrs", func(l *slog.Logger) { l.LogAttrs(context.Background(), slog.LevelInfo, "m", slog.Any("c", c)) }, []string{`"ID":"cust-h"`}},
		{"with", func(l *slog.Logger) { l.With("c", c).WithGroup("g").Info("m", "p", c.Home) }, []string{`"c":{"ID":"cust-h"`, `"g":{"p":{"Street":"[redacted]","City":"London"`}},
		{"leaky LogValue", func(l *slog.Logger) { l.Info("m", "c", redactRawLogger{c}) }, []string{`"c":{"ID":"cust-h"`}},
		{"LogValue in a group", func(l *slog.Logger) { l.Info("m", slog.Group("g", "c", LoggedCustomer{c})) }, []string{`"g":{"c":{"ID":"cust-h"`}},
		{"behind an interface", func(l *slog.Logger) { l.Info("m", "xs", []any{"plain", c}) }, []string{`"xs":{"0":"plain","1":"[redacted]"}`}},
		{"in a map of any", func(l *slog.Logger) { l.Info("m", "m", map[string]any{"k": 1, "c": &c}) }, []string{`"m":{"c":"[redacted]","k":1}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, text := range []bool{false, true} {
				var buf bytes.Buffer
				var base slog.Handler = slog.NewJSONHandler(&buf, nil)
				if text {
					base = slog.NewTextHandler(&buf, nil)
				}
				tc.log(slog.New(pii.NewRedactingHandler(base)))
				if text {
					redactCheckClean(t, buf.String())
				} else {
					redactCheckClean(t, buf.String(), tc.shown...)
				}
			}
		})
	}
}

// TestRedactingHandlerBare shows what the bare handlers print for the same
// records: the leaks RedactingHandler closes. If this stops failing to be
// clean, the test above proves nothing.
func TestRedactingHandlerBare(t *testing.T) {
	c := sampleCustomer("cust-h")
	for _, log := range []func(l *slog.Logger){
		func(l *slog.Logger) { l.Info("m", "c", c) },
		func(l *slog.Logger) { l.Info("m", "cs", []LoggedCustomer{{c}}) },
		func(l *slog.Logger) { l.Info("m", "cs", map[string]*Customer{"a": &c}) },
		func(l *slog.Logger) { l.Info("m", "c", redactRawLogger{c}) },
	} {
		var buf bytes.Buffer
		log(slog.New(slog.NewJSONHandler(&buf, nil)))
		if !strings.Contains(buf.String(), "Ada Lovelace") {
			t.Errorf("the bare handler did not print the plaintext: %s", buf.String())
		}
	}
}

func TestRedactingHandlerPassesPlainRecordsUnchanged(t *testing.T) {
	var got []slog.Record
	h := pii.NewRedactingHandler(redactRecorder{&got})
	type plain struct{ A, B string }
	err := errors.New("boom")
	r := slog.NewRecord(time.Unix(1, 0), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.String("s", "v"), slog.Int("n", 1), slog.Any("err", err), slog.Any("p", plain{"a", "b"}),
		slog.Any("xs", []any{1, "two", plain{}}), slog.Group("g", slog.Any("m", map[string]any{"k": "v"})))
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records passed on", len(got))
	}
	var before, after []slog.Attr
	r.Attrs(func(a slog.Attr) bool { before = append(before, a); return true })
	got[0].Attrs(func(a slog.Attr) bool { after = append(after, a); return true })
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("attrs %v became %v", before, after)
	}
	if redactRaceBuild {
		return
	}
	// A map of interfaces costs the search one allocation (its map
	// iterator); nothing else does.
	if allocs := testing.AllocsPerRun(100, func() { _ = h.Handle(context.Background(), r) }); allocs > 1 {
		t.Errorf("Handle of a record without protected values allocates %v times, want at most 1", allocs)
	}
	r = slog.NewRecord(time.Unix(1, 0), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.String("s", "v"), slog.Int("n", 1), slog.Any("err", err), slog.Any("p", plain{"a", "b"}),
		slog.Any("xs", []any{1, "two", plain{}}), slog.Group("g", slog.Any("p", &plain{})))
	if allocs := testing.AllocsPerRun(100, func() { _ = h.Handle(context.Background(), r) }); allocs != 0 {
		t.Errorf("Handle of a record without protected values or maps allocates %v times, want 0", allocs)
	}
}

func TestRedactingHandlerEnabledAndErrors(t *testing.T) {
	base := slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})
	h := pii.NewRedactingHandler(base)
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler")
	}
	defer func() {
		if recover() == nil {
			t.Error("NewRedactingHandler(nil) did not panic")
		}
	}()
	pii.NewRedactingHandler(nil)
}

// A panicking LogValue method and a self-referencing value do not crash
// the handler.
type redactPanicky struct{ c Customer }

func (redactPanicky) LogValue() slog.Value { panic("no") }

type RedactNode struct {
	Who  Customer
	Next *RedactNode
}

func TestRedactingHandlerOddValues(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil)))
	n := &RedactNode{Who: sampleCustomer("loop")}
	n.Next = n
	l.Info("m", "p", redactPanicky{sampleCustomer("p")}, "n", n)
	type bad struct {
		ID  string `pii:"subject"`
		Age int    `pii:"encrypt"`
	}
	l.Info("m", "bad", []bad{{ID: "x", Age: 40}})
	redactCheckClean(t, buf.String(), `"[…]"`, `"bad":{"0":"[redacted]"}`)
	if strings.Contains(buf.String(), "Age") {
		t.Errorf("a type with bad tags is shown: %s", buf.String())
	}
}

type redactRecorder struct{ got *[]slog.Record }

func (redactRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r redactRecorder) Handle(_ context.Context, rec slog.Record) error {
	if len(*r.got) == 0 {
		*r.got = append(*r.got, rec)
	}
	return nil
}
func (r redactRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r redactRecorder) WithGroup(string) slog.Handler      { return r }

func redactBenchRecord(withModel bool) slog.Record {
	r := slog.NewRecord(time.Unix(1, 0), slog.LevelInfo, "request served", 0)
	r.AddAttrs(slog.String("method", "GET"), slog.Int("status", 200), slog.Duration("took", time.Millisecond),
		slog.Any("err", io.EOF), slog.Group("user", slog.String("id", "u-1"), slog.Int("tier", 3)))
	if withModel {
		r.AddAttrs(slog.Any("customer", sampleCustomer("bench")))
	}
	return r
}

// BenchmarkRedactingHandler compares a JSON handler writing to io.Discard,
// bare and wrapped, for a record without protected values (the common
// case) and one holding a model.
func BenchmarkRedactingHandler(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		model bool
	}{{"plain", false}, {"model", true}} {
		r := redactBenchRecord(bc.model)
		base := slog.NewJSONHandler(io.Discard, nil)
		b.Run(bc.name+"/bare", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = base.Handle(ctx, r)
			}
		})
		h := pii.NewRedactingHandler(base)
		b.Run(bc.name+"/redacting", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Handle(ctx, r)
			}
		})
	}
}

// TestRedactingHandlerConcurrent logs from many goroutines at once, for the
// race detector: plans, log plans and the inspector pool are shared.
func TestRedactingHandlerConcurrent(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	l := slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil)))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sampleCustomer("cust-c")
			for i := 0; i < 50; i++ {
				l.Info("m", "c", c, "cs", []*Customer{&c}, "plain", i, "xs", []any{i, c})
			}
		}()
	}
	wg.Wait()
	redactCheckClean(t, buf.String(), `"ID":"cust-c"`)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
