// Package graphqltest drives the control plane's GraphQL API end to end, over
// real HTTP, on SQLite and on PostgreSQL: the tenancy and role matrix of every
// operation, golden responses, the API-key lifecycle, and the guarantee that
// no secret reaches the database or the logs. It holds tests only.
package graphqltest
