// Package testent is the ent client of the tests' model, generated from
// ./schema by ent's code generator. Regenerate it from orm/entfc with:
//
//	go generate ./internal/testent
package testent

//go:generate go run entgo.io/ent/cmd/ent@v0.14.5 generate ./schema
