// Package store wraps pii's Protector, as applications do.
package store

import (
	"context"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Repo struct{ p *pii.Protector }

func (r *Repo) Protect(ctx context.Context, v any) error { return r.p.Seal(ctx, v) }
