// Package bootstrap declares clients and users in a YAML file and upserts
// them into storage at start-up, idempotently: a secret or password given
// in clear is hashed before it is stored, and an unchanged one keeps its
// stored hash; a user keeps its ID (the `sub`) across runs. Each record is
// checked against the registration policy of package account, the same
// one the CLI and the admin API apply.
package bootstrap
