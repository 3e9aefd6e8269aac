// Package otelfc reports fieldcrypt's audit events and operational signals
// to OpenTelemetry. It is a Go module of its own, so that importing pii
// does not bring in OpenTelemetry.
//
//   - NewAuditor returns an audit.Auditor that records each audit event as
//     a span (a child of the span in the caller's context, named
//     "fieldcrypt.<op>") and counts it in the metric
//     fieldcrypt.audit.events (attributes op, type, outcome). Chain it with
//     the audit table (audit events must also be stored somewhere that
//     keeps them: telemetry pipelines sample and drop).
//   - NewObserver returns a pii.Observer for pii.WithObserver that counts
//     key-cache hits and misses (fieldcrypt.keycache.hits, .misses),
//     records KMS call latency (fieldcrypt.kms.duration, seconds,
//     attributes op and error) and errors (fieldcrypt.kms.errors), and
//     erasures (fieldcrypt.erasures).
//
// Spans and metrics carry names, counts and outcome classes only. The
// keyed subject reference of an event is pseudonymous personal data, and
// actors may be staff accounts: both are left out unless Options asks for
// them.
package otelfc

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// scope is the instrumentation scope name.
const scope = "github.com/fieldcrypt/fieldcrypt/telemetry/otelfc"

// Options configure NewAuditor.
type Options struct {
	TracerProvider trace.TracerProvider // nil: no spans
	MeterProvider  metric.MeterProvider // nil: no metrics
	// WithSubject adds the keyed subject reference (fieldcrypt.subject)
	// to spans; WithActor adds the actor (fieldcrypt.actor). Off by
	// default: telemetry is rarely protected as personal data.
	WithSubject, WithActor bool
}

// Auditor records audit events as spans and metrics.
type Auditor struct {
	tracer trace.Tracer
	events metric.Int64Counter
	opt    Options
}

var _ audit.Auditor = (*Auditor)(nil)

// NewAuditor returns an Auditor reporting to o's providers.
func NewAuditor(o Options) (*Auditor, error) {
	a := &Auditor{opt: o}
	if o.TracerProvider != nil {
		a.tracer = o.TracerProvider.Tracer(scope)
	}
	if o.MeterProvider != nil {
		var err error
		a.events, err = o.MeterProvider.Meter(scope).Int64Counter("fieldcrypt.audit.events",
			metric.WithDescription("fieldcrypt audit events, by operation, type and outcome"))
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Audit records e. It never fails.
func (a *Auditor) Audit(ctx context.Context, e audit.Event) error {
	attrs := []attribute.KeyValue{
		attribute.String("fieldcrypt.op", string(e.Op)),
		attribute.String("fieldcrypt.type", e.Type),
		attribute.String("fieldcrypt.outcome", e.Outcome),
	}
	if a.events != nil {
		a.events.Add(ctx, 1, metric.WithAttributes(attrs...))
	}
	if a.tracer == nil {
		return nil
	}
	attrs = append(attrs,
		attribute.String("fieldcrypt.purpose", e.Purpose),
		attribute.Int("fieldcrypt.records", e.Records),
		attribute.Int("fieldcrypt.failed", e.Failed),
		attribute.StringSlice("fieldcrypt.opened", e.Opened),
		attribute.StringSlice("fieldcrypt.sealed", e.Sealed),
		attribute.StringSlice("fieldcrypt.refused", e.Refused),
	)
	if e.Detail != "" {
		attrs = append(attrs, attribute.String("fieldcrypt.detail", e.Detail))
	}
	if a.opt.WithSubject && e.Subject != "" {
		attrs = append(attrs, attribute.String("fieldcrypt.subject", e.Subject))
	}
	if a.opt.WithActor && e.Actor != "" {
		attrs = append(attrs, attribute.String("fieldcrypt.actor", e.Actor))
	}
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	_, span := a.tracer.Start(ctx, "fieldcrypt."+string(e.Op), trace.WithTimestamp(at), trace.WithAttributes(attrs...))
	if e.Outcome != audit.OutcomeOK {
		span.SetStatus(codes.Error, e.Outcome)
	}
	span.End(trace.WithTimestamp(at))
	return nil
}

// NewObserver returns a pii.Observer reporting to mp.
func NewObserver(mp metric.MeterProvider) (pii.Observer, error) {
	m := mp.Meter(scope)
	hits, err1 := m.Int64Counter("fieldcrypt.keycache.hits", metric.WithDescription("subject keys served from the key cache"))
	misses, err2 := m.Int64Counter("fieldcrypt.keycache.misses", metric.WithDescription("subject keys not in the key cache"))
	dur, err3 := m.Float64Histogram("fieldcrypt.kms.duration", metric.WithUnit("s"), metric.WithDescription("KEK call latency"))
	kmsErrs, err4 := m.Int64Counter("fieldcrypt.kms.errors", metric.WithDescription("failed KEK calls"))
	erased, err5 := m.Int64Counter("fieldcrypt.erasures", metric.WithDescription("subjects erased in this process"))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return pii.Observer{}, err
	}
	ctx := context.Background()
	return pii.Observer{
		CacheHit:  func() { hits.Add(ctx, 1) },
		CacheMiss: func() { misses.Add(ctx, 1) },
		KMSCall: func(op string, d time.Duration, err error) {
			opAttr := attribute.String("fieldcrypt.kms.op", op)
			dur.Record(ctx, d.Seconds(), metric.WithAttributes(opAttr, attribute.Bool("error", err != nil)))
			if err != nil {
				kmsErrs.Add(ctx, 1, metric.WithAttributes(opAttr))
			}
		},
		Erased: func() { erased.Add(ctx, 1) },
	}, nil
}
