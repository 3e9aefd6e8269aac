package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// OpLookupToken is the audit operation of LookupToken: the event names
// the type's scope, the field path (Detail) and the subject's keyed
// reference, never the value or the token.
const OpLookupToken audit.Op = "token.lookup"

// LookupToken returns the token that Seal gave value in field of T for
// subject, without creating one: for joins and searches by a value whose
// column holds tokens. field is the Go name of a token field of T, or a
// path of Go names through nested structs ("Address.Postcode"). The field
// must have convergent vaulted tokens (`pii:"token,...,vault,convergent"`):
// for a value that FF1 serves, the token is computed; for a vaulted one,
// it is found by the value's keyed index (one FindTokens call). A value
// that has no token yet (never sealed, expired, or erased with its
// subject) gives ErrTokenNotFound; a subject without keys too. subject may
// be "" only for a scope=global field with survive. With an Auditor, every
// call is audited (OpLookupToken), whatever its outcome.
func LookupToken[T any](ctx context.Context, p *Protector, subject, field, value string) (tok string, err error) {
	var typ, detail string
	defer func() {
		p.auditLifecycle(ctx, audit.Event{Op: OpLookupToken, Type: typ, Detail: detail}, subject, &err) // audit.go
	}()
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "", fmt.Errorf("%w: %v is not a struct type", ErrInvalidArgument, t)
	}
	rp := planFor(t)
	if rp.err != nil {
		return "", rp.err
	}
	typ = rp.st.scope
	f, scope := findField(rp.st, rp.st.scope, strings.Split(field, "."))
	if f == nil || f.token == "" {
		return "", fmt.Errorf("%w: %v has no token field %q", ErrInvalidArgument, t, field)
	}
	detail = rp.st.name + "." + field // a field that exists: not data
	if f.vault == nil || !f.vault.convergent {
		return "", fmt.Errorf("%w: %s", ErrNotConvergent, field)
	}
	survive := f.global && f.vault.survive
	if subject == "" && !survive {
		return "", ErrNoSubject
	}
	path := rp.st.name + "." + field
	fail := func(err error) (string, error) {
		return "", &FieldError{Path: path, Op: "lookup", Err: err}
	}
	j := &job{field: f, scope: scope, subject: subject, in: value}
	if err := (&walker{lim: p.limits()}).checkLookup(j); err != nil {
		return fail(err)
	}
	tmpl, err := routeVault(j, false)
	if err != nil {
		return fail(err)
	}
	keys := p.ring.global
	if !f.global {
		if keys, err = p.ring.get(ctx, subject, false); err != nil {
			if errors.Is(err, ErrKeyNotFound) {
				err = ErrTokenNotFound
			}
			return fail(err)
		}
	}
	if tmpl == nil { // FF1: the token is a function of the value
		tk, err := keys.Tokenizer()
		if err != nil {
			return fail(err)
		}
		tok, err := tk.Tokenize(f.token, j.tweak(), value)
		if err != nil {
			return fail(err)
		}
		return tok, nil
	}
	tv, err := p.tokenVault()
	if err != nil {
		return "", err
	}
	space := vaultSpace(scope, f.name, len(value))
	var idxKey []byte
	partition, owners := globalPartition, []string{""}
	if f.global {
		if idxKey, err = p.globalVaultKey(ctx, false); err != nil {
			return fail(err)
		}
		if idxKey == nil {
			return fail(ErrTokenNotFound)
		}
	} else {
		if idxKey, err = keys.VaultIndexKey(); err != nil {
			return fail(err)
		}
		part, err := keys.VaultPartition()
		if err != nil {
			return fail(err)
		}
		partition = "p1." + vaultEncoding(part)
	}
	if !survive {
		if owners, err = p.ring.addresses(subject); err != nil {
			return fail(err)
		}
	}
	res, err := tv.FindTokens(ctx, p.now(), []keystore.TokenIndexRef{{Space: space, Partition: partition, Index: vaultIndex(idxKey, space, value)}})
	if err != nil {
		return "", fmt.Errorf("pii: lookup token: token vault: %w", err)
	}
	if len(res) == 1 {
		for _, m := range res[0] {
			if containsString(owners, m.Owner) {
				return m.Token, nil
			}
		}
	}
	return fail(ErrTokenNotFound)
}

// checkLookup applies Seal's length limit of token fields to a value.
func (w *walker) checkLookup(j *job) error {
	if len(j.in) > w.lim.token {
		return fmt.Errorf("%w: a token field holds at most %d bytes", ErrValueTooLarge, w.lim.token)
	}
	return nil
}

// findField follows a path of Go field names from st (in scope) to a
// field, through nested and embedded structs, and returns it with its
// scope.
func findField(st *structPlan, scope string, names []string) (*fieldPlan, string) {
	for i := range st.fields {
		f := &st.fields[i]
		if f.inline {
			if g, s := findField(nodeStruct(f.node), scope, names); g != nil {
				return g, s
			}
			continue
		}
		if f.goName != names[0] {
			continue
		}
		if len(names) == 1 {
			return f, scope
		}
		if inner := nodeStruct(f.node); inner != nil {
			return findField(inner, inner.scope, names[1:])
		}
		return nil, ""
	}
	return nil, ""
}

// nodeStruct returns the struct plan of a struct node, or of a pointer to
// one; nil for any other node.
func nodeStruct(n *node) *structPlan {
	if n.kind == nPtr {
		n = n.elem
	}
	if n.kind == nStruct {
		return n.st
	}
	return nil
}
