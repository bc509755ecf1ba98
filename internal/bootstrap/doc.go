// Package bootstrap declares clients, users and resource servers (RFC
// 8707) in a YAML file and upserts
// them into storage at start-up, idempotently: a secret or password given
// in clear is hashed before it is stored, and an unchanged one keeps its
// stored hash; a user keeps its ID (the `sub`) across runs. Each record is
// checked against the registration policy of package account, the same
// one the CLI and the admin API apply.
//
// The file owns what it declares (as dex's static clients): those records
// are marked storage.ManagedByBootstrap, the admin API and the CLI refuse
// to change or delete them, and every apply writes them back as the file
// says. A record the file stops declaring is released (unmarked, kept); a
// record of the same name made elsewhere is taken over.
package bootstrap
