package storage

import (
	"context"
	"errors"
	"fmt"
)

// Each list lives on the slot of the records it names, so that on Cluster
// it is lost together with them or not at all.

// BootstrapDeclared returns the client ids and usernames SetBootstrapDeclared
// last stored.
func (s *Store) BootstrapDeclared(ctx context.Context) (clientIDs, usernames []string, err error) {
	if clientIDs, err = s.getNames(ctx, s.kBootstrapClients()); err != nil {
		return nil, nil, err
	}
	if usernames, err = s.getNames(ctx, s.kBootstrapUsers()); err != nil {
		return nil, nil, err
	}
	return clientIDs, usernames, nil
}

// SetBootstrapDeclared replaces both lists. Each is written whole by one
// SET; the two are independent, so one written without the other leaves
// nothing inconsistent.
func (s *Store) SetBootstrapDeclared(ctx context.Context, clientIDs, usernames []string) error {
	if err := s.setNames(ctx, s.kBootstrapClients(), clientIDs); err != nil {
		return err
	}
	return s.setNames(ctx, s.kBootstrapUsers(), usernames)
}

// BootstrapDeclaredResources returns the resource ids
// SetBootstrapDeclaredResources last stored.
func (s *Store) BootstrapDeclaredResources(ctx context.Context) ([]string, error) {
	return s.getNames(ctx, s.kBootstrapResources())
}

// SetBootstrapDeclaredResources replaces the list of resource ids, one SET.
func (s *Store) SetBootstrapDeclaredResources(ctx context.Context, ids []string) error {
	return s.setNames(ctx, s.kBootstrapResources(), ids)
}

func (s *Store) getNames(ctx context.Context, key string) ([]string, error) {
	names, err := getStringRecord[[]string](ctx, s.rdb, key, "bootstrap names")
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return *names, nil
}

func (s *Store) setNames(ctx context.Context, key string, names []string) error {
	if names == nil {
		names = []string{}
	}
	raw, err := encode(names, "bootstrap names")
	if err != nil {
		return err
	}
	if err := s.rdb.Set(ctx, key, raw, 0).Err(); err != nil {
		return fmt.Errorf("storage: set bootstrap names: %w", err)
	}
	return nil
}
