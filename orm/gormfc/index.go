package gormfc

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// WhereIndex returns a condition for Where that finds the rows of T whose
// blind index named index holds values: `column IN (terms)`, with the
// terms of pii.IndexTerms (one per live index key version) and the column
// of the index field in the statement's schema. The rows it finds are
// candidates: a term matches every value of its class, so keep the true
// matches with pii.Matches on the candidates read through Raw(db), which
// FindByIndex does. The errors are pii.IndexTerms's; a statement whose
// model is not T fails with ErrIndexColumn.
func WhereIndex[T any](ctx context.Context, p *pii.Protector, index string, values ...string) (clause.Expression, error) {
	terms, err := pii.IndexTerms[T](ctx, p, index, values...)
	if err != nil {
		return nil, err
	}
	return newIndexExpr[T](index, terms)
}

// WhereSubjectIndex is WhereIndex for a scope=subject index: the rows of
// subject's own records (pii.SubjectIndexTerms).
func WhereSubjectIndex[T any](ctx context.Context, p *pii.Protector, subject, index string, values ...string) (clause.Expression, error) {
	terms, err := pii.SubjectIndexTerms[T](ctx, p, subject, index, values...)
	if err != nil {
		return nil, err
	}
	return newIndexExpr[T](index, terms)
}

// FindByIndex returns the records of T whose blind index named index
// holds values, opened: the candidates WhereIndex finds (with db's other
// conditions, such as a Where or a Limit, applied too), read through
// Raw(db), then pii.Matches, which opens them and drops false positives
// and the records of forgotten subjects.
func FindByIndex[T any](ctx context.Context, db *gorm.DB, p *pii.Protector, index string, values ...string) ([]T, error) {
	cond, err := WhereIndex[T](ctx, p, index, values...)
	if err != nil {
		return nil, err
	}
	var candidates []T
	if err := Raw(db.WithContext(ctx)).Where(cond).Find(&candidates).Error; err != nil {
		return nil, err
	}
	return pii.Matches(ctx, p, candidates, index, values...)
}

func newIndexExpr[T any](index string, terms []string) (clause.Expression, error) {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields, err := pii.WrittenFields(t)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if f.Index == index {
			vals := make([]any, len(terms))
			for i, s := range terms {
				vals[i] = s
			}
			return indexExpr{typ: t, path: f.Path, index: index, terms: vals}, nil
		}
	}
	// IndexTerms found it, so it is promoted from deeper than one level of
	// embedding that WrittenFields lists: not reachable as a column.
	return nil, fmt.Errorf("%w: index %q of %v", ErrIndexColumn, index, t)
}

// indexExpr is `column IN (terms)`, its column found in the statement's
// schema when the statement is built.
type indexExpr struct {
	typ   reflect.Type
	path  []int
	index string
	terms []any
}

// Build implements clause.Expression.
func (e indexExpr) Build(b clause.Builder) {
	stmt, ok := b.(*gorm.Statement)
	if !ok {
		return
	}
	if stmt.Schema == nil || stmt.Schema.ModelType != e.typ {
		stmt.AddError(fmt.Errorf("%w: index %q is of %v", ErrIndexColumn, e.index, e.typ))
		return
	}
	for _, f := range stmt.Schema.Fields {
		if f.DBName != "" && slices.Equal(fieldPath(f), e.path) {
			clause.IN{Column: clause.Column{Table: clause.CurrentTable, Name: f.DBName}, Values: e.terms}.Build(b)
			return
		}
	}
	stmt.AddError(fmt.Errorf("%w: index %q of %v", ErrIndexColumn, e.index, e.typ))
}
