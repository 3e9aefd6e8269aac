package audit

import (
	"context"
	"log/slog"
)

// NewSlogAuditor returns an Auditor that logs each event at level Info
// with the message "fieldcrypt audit" and one attribute per set field.
// Logging cannot fail, so neither does it.
func NewSlogAuditor(l *slog.Logger) Auditor {
	return AuditorFunc(func(ctx context.Context, e Event) error {
		attrs := []slog.Attr{
			slog.Time("time", e.Time), slog.String("op", string(e.Op)), slog.String("outcome", e.Outcome),
		}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("type", e.Type)
		add("subject", e.Subject)
		add("actor", e.Actor)
		add("purpose", e.Purpose)
		add("detail", e.Detail)
		if e.Records != 0 {
			attrs = append(attrs, slog.Int("records", e.Records))
		}
		if e.Failed != 0 {
			attrs = append(attrs, slog.Int("failed", e.Failed))
		}
		for _, f := range []struct {
			k string
			v []string
		}{{"subjects", e.Subjects}, {"sealed", e.Sealed}, {"opened", e.Opened}, {"masked", e.Masked}, {"refused", e.Refused}} {
			if len(f.v) > 0 {
				attrs = append(attrs, slog.Any(f.k, f.v))
			}
		}
		l.LogAttrs(ctx, slog.LevelInfo, "fieldcrypt audit", attrs...)
		return nil
	})
}
