// Package ent is generated from ent/schema; edit the schema, then run `make generate`.
package ent

//go:generate go run -mod=mod entc.go
