package otelfc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
	"github.com/fieldcrypt/fieldcrypt/telemetry/otelfc"
)

type Customer struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func sums(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					key := m.Name
					if op, ok := p.Attributes.Value("fieldcrypt.op"); ok {
						out[m.Name+"/"+op.AsString()+"/"+must(p.Attributes, "fieldcrypt.outcome")] += p.Value
					}
					out[key] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+"/"+must(p.Attributes, "fieldcrypt.kms.op")] += int64(p.Count)
				}
			}
		}
	}
	return out
}

func must(s attribute.Set, k attribute.Key) string {
	v, _ := s.Value(k)
	return v.Emit()
}

func TestAuditorAndObserver(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	a, err := otelfc.NewAuditor(otelfc.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := otelfc.NewObserver(mp)
	if err != nil {
		t.Fatal(err)
	}
	kek := kmstest.New("test:1")
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "agent-7", Purpose: "support"})
	p, err := pii.New(ctx, kek, memory.New(), pii.WithAuditor(a), pii.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	c := Customer{ID: "ada@example.com", Name: "Ada"}
	if err := p.Seal(ctx, &c); err != nil { // a miss, a wrap
		t.Fatal(err)
	}
	for range 3 {
		v := c
		if err := p.Open(ctx, &v); err != nil { // hits
			t.Fatal(err)
		}
	}
	if _, err := p.Forget(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	v := c
	if err := p.Open(ctx, &v); !errors.Is(err, pii.ErrForgotten) {
		t.Fatal(err)
	}
	kek.FailAll(kms.Classify(kms.ErrUnavailable, errors.New("injected"))) // the KMS is down
	d := Customer{ID: "bob", Name: "Bob"}
	if err := p.Seal(ctx, &d); !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("Seal with the KMS down: %v", err)
	}
	kek.FailAll(nil)

	got := sums(t, reader)
	for name, want := range map[string]int64{
		"fieldcrypt.keycache.hits":                 3,
		"fieldcrypt.erasures":                      1,
		"fieldcrypt.kms.errors":                    1,
		"fieldcrypt.audit.events/open/ok":          3,
		"fieldcrypt.audit.events/open/forgotten":   1,
		"fieldcrypt.audit.events/seal/ok":          1,
		"fieldcrypt.audit.events/forget/ok":        1,
		"fieldcrypt.audit.events/seal/unavailable": 1,
	} {
		if got[name] != want {
			t.Errorf("%s = %d, want %d (all: %v)", name, got[name], want, got)
		}
	}
	if got["fieldcrypt.keycache.misses"] < 2 || got["fieldcrypt.kms.duration/encrypt"] < 1 {
		t.Errorf("misses / KMS calls not recorded: %v", got)
	}

	ended := spans.Ended()
	if len(ended) != 7 {
		t.Fatalf("%d spans, want 7", len(ended))
	}
	if ended[1].Name() != "fieldcrypt.open" {
		t.Errorf("span name %q", ended[1].Name())
	}
	for _, s := range ended {
		for _, kv := range s.Attributes() {
			if v := kv.Value.Emit(); strings.Contains(v, "ada") || strings.Contains(v, "Ada") || strings.Contains(v, "agent-7") || kv.Key == "fieldcrypt.subject" {
				t.Errorf("span %s attribute %s = %s", s.Name(), kv.Key, v)
			}
		}
	}
}
