package pii

import (
	"context"
)

// Access is who is acting on personal data, and why: the actor (a service,
// a job, a staff role or account name) and the purpose (billing, support,
// ...). Both are short labels chosen by the application; they go into
// audit events as they are, so they must not be personal data of the
// data subject.
type Access struct {
	Actor   string
	Purpose string
}

type accessKey struct{}

// WithAccess returns a context that carries a: Seal, Open and every other
// audited call made with it record a.Actor and a.Purpose in their audit
// events. It is the one place the actor and purpose of a call are stated.
func WithAccess(ctx context.Context, a Access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

// AccessFrom returns the Access that WithAccess put into ctx, and whether
// there was one.
func AccessFrom(ctx context.Context) (Access, bool) {
	a, ok := ctx.Value(accessKey{}).(Access)
	return a, ok
}
