package pii

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
)

// RedactingHandler is a slog.Handler that redacts protected values wherever
// they appear in a record before passing it on: in any attribute, at any
// depth (groups, slices, arrays and maps of models, pointers, nested
// structs, values behind interfaces, the output of LogValue methods), and
// in the attributes given to WithAttrs. A value that holds no struct with
// protected fields is passed on as it is. Every value that holds one is
// shown as LogValue shows it. Wrap the application's handler once:
//
//	logger := slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(os.Stderr, nil)))
//
// and a model logged with logger.Info("saved", "customer", c), in a slice
// or a map, or inside another value, never prints a protected field.
//
// What it cannot see: text already formatted before it reaches slog (a
// message built with fmt.Sprintf, an error string), and a value that
// another handler or library prints by itself. The piivet analyzer
// (tools/piivet) reports those at build time.
//
// A record without protected values costs one look per attribute (a
// cached per-type answer for most values) and no allocation; a record with
// them is copied once, with the protected values replaced. LogValue
// methods in a record are called by RedactingHandler, once, so that what
// they return is redacted too.
//
// A RedactingHandler is safe for concurrent use if the handler it wraps is.
type RedactingHandler struct {
	next slog.Handler
}

var _ slog.Handler = (*RedactingHandler)(nil)

// NewRedactingHandler returns a handler that redacts protected values and
// passes records on to next. It panics if next is nil.
func NewRedactingHandler(next slog.Handler) *RedactingHandler {
	if next == nil {
		panic("pii: NewRedactingHandler with a nil handler")
	}
	return &RedactingHandler{next: next}
}

// Enabled reports whether the wrapped handler handles records at level l.
func (h *RedactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle passes r on to the wrapped handler, with its protected values
// redacted.
func (h *RedactingHandler) Handle(ctx context.Context, r slog.Record) error {
	needs := false
	r.Attrs(func(a slog.Attr) bool {
		needs = needsRedaction(a.Value)
		return !needs
	})
	if !needs {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs returns a RedactingHandler whose wrapped handler has the
// attributes as, redacted, added.
func (h *RedactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return &RedactingHandler{next: h.next.WithAttrs(red)}
}

// WithGroup returns a RedactingHandler whose wrapped handler has the group
// name opened.
func (h *RedactingHandler) WithGroup(name string) slog.Handler {
	return &RedactingHandler{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	if !needsRedaction(a.Value) {
		return a
	}
	return slog.Attr{Key: a.Key, Value: redactValue(a.Value, 0)}
}

// needsRedaction reports whether v holds, or may produce, a struct with
// protected fields: a LogValuer (whose output is not known until it is
// called), or a value of a type that may hold one and does.
func needsRedaction(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindLogValuer:
		return true
	case slog.KindGroup:
		for _, a := range v.Group() {
			if needsRedaction(a.Value) {
				return true
			}
		}
	case slog.KindAny:
		x := v.Any()
		t := reflect.TypeOf(x)
		if t == nil {
			return false
		}
		if mayHold(t) && holdsTagged(reflect.ValueOf(x)) {
			return true
		}
		// Map keys, which the search above does not look at: rare
		// enough to redact whenever the type allows them.
		return logMayHold(t) && !mayHold(t)
	}
	return false
}

var inspectors = sync.Pool{New: func() any { return new(inspector) }}

// holdsTagged reports whether v is or holds, anywhere in it, a struct with
// protected fields (or a value nested too deeply to tell).
func holdsTagged(v reflect.Value) bool {
	in := inspectors.Get().(*inspector)
	found := in.find(v, true)
	in.reset()
	inspectors.Put(in)
	return found
}
