package graph

import (
	"entgo.io/ent/dialect/sql"
)

type entsqlSelector = sql.Selector

// sqlColumnsGTE compares two columns of the same row (request_count >= max_requests).
func sqlColumnsGTE(s *sql.Selector, a, b string) *sql.Predicate {
	return sql.ColumnsGTE(s.C(a), s.C(b))
}

// sqlColumnsLT compares two columns of the same row (request_count < max_requests).
func sqlColumnsLT(s *sql.Selector, a, b string) *sql.Predicate {
	return sql.ColumnsLT(s.C(a), s.C(b))
}
