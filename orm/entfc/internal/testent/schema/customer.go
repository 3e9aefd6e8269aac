// Package schema is the ent schema of the tests' model.
package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// text is the column type of sealed values on both databases.
var text = map[string]string{dialect.Postgres: "text", dialect.SQLite: "text"}

// Customer holds the schema definition for the Customer entity: the pii
// tags go on the generated struct with StructTag.
type Customer struct {
	ent.Schema
}

// Fields of the Customer.
func (Customer) Fields() []ent.Field {
	return []ent.Field{
		field.String("subject").StructTag(`pii:"subject"`),
		field.String("name").StructTag(`pii:"encrypt"`).Default(""),
		field.String("email").GoType(pii.SealedString("")).StructTag(`pii:"encrypt"`).Default(""),
		field.String("email_idx").StructTag(`pii:"index=Email,transform=trim+fold,name=email"`).Default(""),
		field.Other("born", pii.Sealed[time.Time]{}).SchemaType(text).Optional(),
		field.Other("salary", pii.Sealed[int64]{}).SchemaType(text).StructTag(`pii:"encrypt,name=salary"`).Optional(),
		field.String("team").Default(""),
		field.String("code").Unique(),
	}
}
