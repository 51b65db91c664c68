package migrations

import (
	"ariga.io/atlas/sql/postgres"
	atlas "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect/sql/schema"
)

// PartitionedTable is the table the hand-written PostgreSQL migration
// *_partition_usage_events partitions by month.
const PartitionedTable = "usage_events"

// partitionedUnique is its unique index, which on PostgreSQL also holds the
// partition key.
const partitionedUnique = "usage_events_request_id_key"

// HidePartitioning is an ent migrate option for every diff of the schema
// against a database (`make generate`, TestMigrationsMatchSchema): it keeps
// ent from "fixing" what partitioning changed in usage_events on PostgreSQL
// — the partition key, the primary key (id, occurred_at) and the unique
// index (request_id, occurred_at) — which ent cannot express. Every other
// change to the table still shows.
func HidePartitioning() schema.MigrateOption {
	return schema.WithDiffHook(func(next schema.Differ) schema.Differ {
		return schema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
			if t, ok := current.Table(PartitionedTable); ok {
				attrs := t.Attrs[:0]
				for _, a := range t.Attrs {
					if !isPartition(a) {
						attrs = append(attrs, a)
					}
				}
				t.Attrs = attrs
			}
			changes, err := next.Diff(current, desired)
			if err != nil {
				return nil, err
			}
			out := changes[:0]
			for _, c := range changes {
				m, ok := c.(*atlas.ModifyTable)
				if !ok || m.T.Name != PartitionedTable {
					out = append(out, c)
					continue
				}
				kept := m.Changes[:0]
				for _, tc := range m.Changes {
					if !partitionChange(tc) {
						kept = append(kept, tc)
					}
				}
				if m.Changes = kept; len(kept) > 0 {
					out = append(out, m)
				}
			}
			return out, nil
		})
	})
}

// isPartition reports whether a is a table's partition spec.
func isPartition(a atlas.Attr) bool {
	_, ok := a.(*postgres.Partition)
	return ok
}

// partitionChange reports whether c is one partitioning made on purpose.
func partitionChange(c atlas.Change) bool {
	switch c := c.(type) {
	case *atlas.ModifyPrimaryKey, *atlas.AddPrimaryKey, *atlas.DropPrimaryKey:
		return true
	case *atlas.ModifyIndex:
		return c.From.Name == partitionedUnique
	case *atlas.DropIndex:
		return c.I.Name == partitionedUnique
	case *atlas.AddIndex:
		return c.I.Name == partitionedUnique
	}
	return false
}
