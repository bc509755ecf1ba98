package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// applyResources does for the file's resources what Apply does for its
// clients: declare, upsert marked, release the dropped, declare again.
func (a *Applier) applyResources(ctx context.Context, f *File, res *Result) error {
	prev, err := a.store.BootstrapDeclaredResources(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	ids := make([]string, 0, len(f.Resources))
	for _, r := range f.Resources {
		ids = append(ids, r.ID)
	}
	if err := a.declareResources(ctx, prev, union(prev, ids)); err != nil {
		return err
	}
	for _, r := range f.Resources {
		outcome, err := a.applyResource(ctx, resourceRecord(r))
		if err != nil {
			return err
		}
		res.count(outcome)
	}
	for _, id := range dropped(prev, ids) {
		released, err := a.releaseResource(ctx, id)
		if err != nil {
			return err
		}
		res.countReleased(released)
	}
	return a.declareResources(ctx, union(prev, ids), ids)
}

func (a *Applier) declareResources(ctx context.Context, stored, ids []string) error {
	if slices.Equal(stored, ids) {
		return nil
	}
	if err := a.store.SetBootstrapDeclaredResources(ctx, ids); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

func (a *Applier) applyResource(ctx context.Context, want *storage.Resource) (outcome, error) {
	old, err := a.store.GetResource(ctx, want.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		old = nil
	case err != nil:
		return 0, fmt.Errorf("bootstrap: resource %q: %w", want.ID, err)
	}
	result := created
	if old != nil {
		if sameResource(old, want) {
			return unchanged, nil
		}
		if old.ManagedBy != storage.ManagedByBootstrap {
			a.logger.Warn("bootstrap: the file takes over a resource it did not manage (made through the admin API or the CLI)",
				"resource", want.ID)
		}
		want.CreatedAt, result = old.CreatedAt, updated
	}
	if err := a.store.UpsertResource(ctx, want); err != nil {
		return 0, fmt.Errorf("bootstrap: resource %q: %w", want.ID, err)
	}
	a.logger.Info("bootstrap resource", "resource", want.ID, "created", result == created)
	return result, nil
}

// releaseResource is releaseClient for a resource. UpdateResource, not
// UpsertResource: an administrator's delete in between must not be
// undone.
func (a *Applier) releaseResource(ctx context.Context, id string) (bool, error) {
	r, err := a.store.GetResource(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("bootstrap: release resource %q: %w", id, err)
	case r.ManagedBy != storage.ManagedByBootstrap:
		return false, nil
	}
	r.ManagedBy = ""
	err = a.store.UpdateResource(ctx, r)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil // deleted meanwhile: nothing of the file's is left
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap: release resource %q: %w", id, err)
	}
	a.logger.Info("bootstrap: resource no longer in the file; the admin API and the CLI may change or delete it now", "resource", id)
	return true, nil
}

func sameResource(a, b *storage.Resource) bool {
	return a.Name == b.Name && slices.Equal(a.Scopes, b.Scopes) && a.AccessTokenTTL == b.AccessTokenTTL &&
		a.RequireDPoP == b.RequireDPoP && a.ManagedBy == b.ManagedBy
}
