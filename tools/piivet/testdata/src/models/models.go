// Package models holds tagged types used from other packages: piivet reads
// their tags from type information, across packages.
package models

import (
	"log/slog"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Address struct {
	Street string `pii:"encrypt"`
	City   string
}

type Phone struct {
	Kind   string
	Number string `pii:"token,format=phone"`
}

type Customer struct {
	ID      string   `pii:"subject"`
	Name    string   `pii:"encrypt"`
	Nick    *string  `pii:"encrypt"`
	Aliases []string `pii:"encrypt"`
	Notes   []byte   `pii:"encrypt"`
	Tier    int
}

// Nested holds protected fields only through other types.
type Nested struct {
	ID     string `pii:"subject"`
	Home   Address
	Phones []Phone
}

type ByPointer struct {
	ID   string `pii:"subject"`
	Work *Address
}

type ByMap struct {
	ID     string `pii:"subject"`
	ByKind map[string]Phone
}

type Embeds struct {
	Address
	ID string `pii:"subject"`
}

// Plain has no protected fields.
type Plain struct {
	ID    string `pii:"subject"`
	Name  string
	Skip  Address `pii:"-"`
	Count int
}

type Stringer struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func (s Stringer) String() string { return s.ID }

type PtrStringer struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func (s *PtrStringer) String() string { return s.ID }

type Logged struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func (l Logged) LogValue() slog.Value { return pii.LogValue(l) }

type JSONSafe struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

func (j JSONSafe) MarshalJSON() ([]byte, error) { return []byte(`{}`), nil }

type JSONOmits struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt" json:"-"`
	name string `pii:"encrypt"`
}

// Hidden keeps its protected value in an unexported field: fmt prints it,
// encoding/json does not.
type Hidden struct {
	ID   string `pii:"subject"`
	home Address
}
