package main

import (
	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect/sql/schema"

	"ariga.io/atlas/sql/sqltool"
)

func newGolangMigrateDir(d *atlas.LocalDir) (atlas.Dir, error) {
	return sqltool.NewGolangMigrateDir(d.Path())
}

func sqltoolFormatter() atlas.Formatter { return sqltool.GolangMigrateFormatter }

var _ = schema.ModeReplay
