package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func resourceCommand(ctx context.Context, e env, args []string) error {
	return subcommand(e, "resource", args, map[string]func([]string) error{
		"put":    func(a []string) error { return resourcePut(ctx, e, a) },
		"list":   func(a []string) error { return resourceList(ctx, e, a) },
		"get":    func(a []string) error { return resourceGet(ctx, e, a) },
		"delete": func(a []string) error { return resourceDelete(ctx, e, a) },
	})
}

// resourcePut registers a resource server or replaces its whole
// registration: a flag left out is reset, not kept.
func resourcePut(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "resource put")
	var scopes stringList
	idFlag := a.fs.String("id", "", "resource identifier, an absolute https URI: the aud of its tokens (or give it as the argument)")
	name := a.fs.String("name", "", "display name shown on the consent page")
	a.fs.Var(&scopes, "scope", "a scope the resource defines (repeatable, or space-separated)")
	ttl := a.fs.Duration("access-token-ttl", 0, "lifetime of its access tokens, at most tokens.access_ttl (0 = tokens.access_ttl)")
	requireDPoP := a.fs.Bool("require-dpop", false, "its access tokens are DPoP-bound only (RFC 9449)")
	cfg, err := a.parse(e, args, 1)
	if err != nil {
		return err
	}
	id, err := idArg(a.fs, *idFlag, "resource id")
	if err != nil {
		return err
	}
	policy, err := account.PolicyOf(cfg)
	if err != nil {
		return usage(err)
	}
	if policy.BuiltinResource(id) != nil {
		return usagef("resource put: %s", admin.BuiltinDetail(id))
	}
	r := &storage.Resource{ID: id, Name: *name, Scopes: strings.Fields(strings.Join(scopes, " ")),
		AccessTokenTTL: *ttl, RequireDPoP: *requireDPoP}
	if errs := account.ValidateResource(r, policy); len(errs) > 0 {
		return usage(errors.Join(errs...))
	}
	store, err := a.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, cfg, store, "resource put", err, id) }()
	old, err := store.GetResource(ctx, id)
	switch {
	case err == nil && old.ManagedBy == storage.ManagedByBootstrap:
		return usagef("resource put: %s", admin.ManagedDetail("resource", id))
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("resource put: %q: %w", id, err)
	}
	if err := store.UpsertResource(ctx, r); err != nil {
		if errors.Is(err, storage.ErrRegistryFull) {
			return fmt.Errorf("resource put: %s", admin.RegistryFullDetail)
		}
		return fmt.Errorf("resource put: %q: %w", id, err)
	}
	if *a.asJSON {
		return writeJSON(e.stdout, admin.ViewResource(r))
	}
	fmt.Fprintf(e.stdout, "put resource %s\n", id)
	return nil
}

// allResources is the registry as the admin API lists it: the built-in
// resources of cfg and the stored ones, sorted by id.
func allResources(ctx context.Context, store *storage.Store, cfg *config.Config) ([]*storage.Resource, error) {
	stored, err := store.ListResources(ctx)
	if err != nil {
		return nil, err
	}
	all := append(account.BuiltinResources(cfg), stored...)
	slices.SortFunc(all, func(x, y *storage.Resource) int { return strings.Compare(x.ID, y.ID) })
	return all, nil
}

// builtinResource returns cfg's built-in resource of identifier id, or nil.
func builtinResource(cfg *config.Config, id string) *storage.Resource {
	return account.Policy{BuiltinResources: account.BuiltinResources(cfg)}.BuiltinResource(id)
}

func resourceList(ctx context.Context, e env, args []string) error {
	a := newAdminCmd(e, "resource list")
	store, err := a.open(ctx, e, args)
	if err != nil {
		return err
	}
	defer store.Close()
	resources, err := allResources(ctx, store, a.cfg)
	if err != nil {
		return fmt.Errorf("resource list: %w", err)
	}
	views := make([]admin.ResourceView, 0, len(resources))
	for _, r := range resources {
		views = append(views, admin.ViewResource(r))
	}
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]any{"resources": views})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPES\tTOKEN TTL\tDPOP\tMANAGED-BY\tNAME")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", v.ID, strings.Join(v.Scopes, ","), resourceTTL(v.AccessTokenTTL),
			v.RequireDPoP, managedBy(v.ManagedBy), v.Name)
	}
	return tw.Flush()
}

// resourceTTL shows a resource's token lifetime: "-" when it keeps
// tokens.access_ttl.
func resourceTTL(d account.Duration) string {
	if d == 0 {
		return "-"
	}
	return time.Duration(d).String()
}

func resourceGet(ctx context.Context, e env, args []string) error {
	a := newAdminCmd(e, "resource get")
	id, store, err := a.openNamed(ctx, e, args, "id", "resource id")
	if err != nil {
		return err
	}
	defer store.Close()
	r := builtinResource(a.cfg, id)
	if r == nil {
		if r, err = store.GetResource(ctx, id); err != nil {
			return fmt.Errorf("resource get: %q: %w", id, err)
		}
	}
	v := admin.ViewResource(r)
	if *a.asJSON {
		return writeJSON(e.stdout, v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"scopes", strings.Join(v.Scopes, " ")},
		{"access_token_ttl", resourceTTL(v.AccessTokenTTL)}, {"require_dpop", fmt.Sprint(v.RequireDPoP)},
		{"managed_by", managedBy(v.ManagedBy)},
	}
	if !v.CreatedAt.IsZero() {
		rows = append(rows, [2]string{"created_at", v.CreatedAt.UTC().Format(time.RFC3339)},
			[2]string{"updated_at", v.UpdatedAt.UTC().Format(time.RFC3339)})
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// resourceDelete removes a stored resource. Tokens already issued for it
// keep their aud until they expire: its own server decides whether to
// accept them meanwhile.
func resourceDelete(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "resource delete")
	id, store, err := a.openNamed(ctx, e, args, "id", "resource id")
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, a.cfg, store, "resource delete", err, id) }()
	if builtinResource(a.cfg, id) != nil {
		return usagef("resource delete: %s", admin.BuiltinDetail(id))
	}
	r, err := store.GetResource(ctx, id)
	if err != nil {
		return fmt.Errorf("resource delete: %q: %w", id, err)
	}
	if r.ManagedBy == storage.ManagedByBootstrap {
		return usagef("resource delete: %s", admin.ManagedDetail("resource", id))
	}
	if err := store.DeleteResource(ctx, id); err != nil {
		return fmt.Errorf("resource delete: %q: %w", id, err)
	}
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]string{"deleted": id})
	}
	fmt.Fprintf(e.stdout, "deleted resource %s\n", id)
	return nil
}
