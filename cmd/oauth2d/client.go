package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/clientkeys"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func clientCommand(ctx context.Context, e env, args []string) error {
	return subcommand(e, "client", args, map[string]func([]string) error{
		"create": func(a []string) error { return clientCreate(ctx, e, a) },
		"list":   func(a []string) error { return clientList(ctx, e, a) },
		"get":    func(a []string) error { return clientGet(ctx, e, a) },
		"delete": func(a []string) error { return clientDelete(ctx, e, a) },
	})
}

func clientCreate(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "client create")
	var redirects, postLogout, grants, scopes, introspectionAuds stringList
	id := a.fs.String("id", "", "client id (generated when empty)")
	name := a.fs.String("name", "", "display name shown on the consent page")
	public := a.fs.Bool("public", false, "public client (no secret; PKCE required)")
	firstParty := a.fs.Bool("first-party", false, "first-party client (no consent page; may use the password grant)")
	secretStdin := a.fs.Bool("secret-stdin", false, "read the secret from stdin instead of generating one")
	dpopBound := a.fs.Bool("dpop-bound", false, "every token request must carry a DPoP proof (dpop_bound_access_tokens, RFC 9449)")
	requirePAR := a.fs.Bool("require-par", false, "authorization requests must be pushed first (require_pushed_authorization_requests, RFC 9126)")
	skipNativeConsent := a.fs.Bool("insecure-skip-consent-for-native-redirects", false,
		"INSECURE: a public client skips the consent page (first party, remembered consent) also on a loopback, localhost or private-use redirect URI, which any local app can receive (RFC 8252 §8.6)")
	a.fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable)")
	a.fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	clientURI := a.fs.String("client-uri", "", "the client's home page, linked from the login and error pages (client_uri, RFC 7591)")
	bcl := a.fs.String("backchannel-logout-uri", "", "where logout tokens are POSTed (OIDC Back-Channel Logout)")
	bclSession := a.fs.Bool("backchannel-logout-session-required", false, "every logout token must carry a sid")
	a.fs.Var(&grants, "grant-type", "grant type (repeatable): "+strings.Join(account.SupportedGrantTypes, ", "))
	a.fs.Var(&scopes, "scope", "allowed scope (repeatable, or space-separated)")
	authMethod := a.fs.String("token-endpoint-auth-method", "",
		"client_secret_basic, client_secret_post, private_key_jwt (RFC 7523: signs a JWT with a key of --jwks-file or --jwks-uri; no secret) or none (default: none if --public, else a secret)")
	jwksFile := a.fs.String("jwks-file", "", "a file holding the client's public keys as a JWK Set (private_key_jwt)")
	jwksURI := a.fs.String("jwks-uri", "", "an https URL the server fetches the client's JWK Set from (private_key_jwt)")
	a.fs.Var(&introspectionAuds, "introspection-audience",
		"an access-token audience (aud) whose tokens the client may introspect, as a resource server (repeatable; RFC 7662)")
	cfg, err := a.parse(e, args, 0)
	if err != nil {
		return err
	}
	if *public && *secretStdin {
		return usagef("client create: --secret-stdin: a public client has no secret")
	}
	jwks, err := readJWKSFile(*jwksFile)
	if err != nil {
		return err
	}
	c := &storage.Client{
		ID: *id, Name: *name, Public: *public, FirstParty: *firstParty,
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
		GrantTypes: grants, Scopes: strings.Fields(strings.Join(scopes, " ")),
		ClientURI: *clientURI, BackchannelLogoutURI: *bcl, BackchannelLogoutSessionRequired: *bclSession,
		DPoPBoundAccessTokens: *dpopBound, RequirePushedAuthorizationRequests: *requirePAR,
		IntrospectionAudiences:                introspectionAuds,
		InsecureSkipConsentForNativeRedirects: *skipNativeConsent,
		TokenEndpointAuthMethod:               *authMethod, JWKS: jwks, JWKSURI: *jwksURI,
	}
	if !c.HasSecret() && !c.Public && *secretStdin {
		return usagef("client create: --secret-stdin: a private_key_jwt client has no secret")
	}
	if c.ID == "" {
		c.ID = newClientID()
	}
	policy, err := account.PolicyOf(cfg)
	if err != nil {
		return usage(err)
	}
	if errs := account.ValidateClient(c, policy); len(errs) > 0 {
		return usage(errors.Join(errs...))
	}
	clear := ""
	if c.HasSecret() {
		if clear, err = clientSecret(e.stdin, *secretStdin); err != nil {
			return err
		}
	}
	store, err := a.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, cfg, store, "client create", err, c.ID) }()
	if clear != "" {
		if c.SecretHash, err = secret.NewHasher(secret.DefaultParams()).Hash(clear); err != nil {
			return fmt.Errorf("client create: %w", err)
		}
	}
	if err := store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("client create: client %q already exists", c.ID)
		}
		return fmt.Errorf("client create: %w", err)
	}
	return printCreatedClient(e.stdout, c, clear, *secretStdin, *a.asJSON)
}

// readJWKSFile reads --jwks-file, bounded (ValidateClient checks what
// it holds); "" when no file is named.
func readJWKSFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", usagef("client create: --jwks-file: %v", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, clientkeys.MaxSetBytes+1))
	if err != nil {
		return "", usagef("client create: --jwks-file: %v", err)
	}
	var set account.JWKS
	if err := set.UnmarshalJSON(raw); err != nil || len(raw) > clientkeys.MaxSetBytes {
		return "", usagef("client create: --jwks-file: not a JWK Set of at most %d bytes of JSON", clientkeys.MaxSetBytes)
	}
	return string(set), nil
}

// minClientSecretLen keeps a piped-in secret from being guessable; a
// generated one has 256 bits.
const minClientSecretLen = 16

func clientSecret(stdin io.Reader, fromStdin bool) (string, error) {
	if !fromStdin {
		return secret.NewToken(32), nil
	}
	s, err := readSecretLine(stdin, "client secret", account.MaxPasswordLen)
	if err != nil {
		return "", err
	}
	if len(s) < minClientSecretLen {
		return "", usagef("client create: secret on stdin: must be at least %d characters", minClientSecretLen)
	}
	return s, nil
}

func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// printCreatedClient shows a generated secret this once; it is stored
// only as a hash. A secret the caller supplied is not echoed back.
func printCreatedClient(w io.Writer, c *storage.Client, clear string, supplied, asJSON bool) error {
	shown := clear
	if supplied {
		shown = ""
	}
	if asJSON {
		out := struct {
			Client       admin.ClientView `json:"client"`
			ClientSecret string           `json:"client_secret,omitempty"`
		}{admin.ViewClient(c), shown}
		return writeJSON(w, out)
	}
	fmt.Fprintf(w, "client_id: %s\n", c.ID)
	if shown != "" {
		fmt.Fprintf(w, "client_secret: %s\n", shown)
		fmt.Fprintln(w, "Store the secret now: it is kept only as a hash and cannot be shown again.")
	}
	return nil
}

func clientList(ctx context.Context, e env, args []string) error {
	a := newAdminCmd(e, "client list")
	store, err := a.open(ctx, e, args)
	if err != nil {
		return err
	}
	defer store.Close()
	clients, err := store.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("client list: %w", err)
	}
	views := make([]admin.ClientView, 0, len(clients))
	for _, c := range clients {
		views = append(views, admin.ViewClient(c))
	}
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]any{"clients": views})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tFIRST-PARTY\tGRANT TYPES\tMANAGED-BY\tNAME")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", v.ID, clientType(v.Public), v.FirstParty, strings.Join(v.GrantTypes, ","),
			managedBy(v.ManagedBy), v.Name)
	}
	return tw.Flush()
}

// managedBy names a record's owner for the tables: "-" when an
// administrator manages it.
func managedBy(owner string) string {
	if owner == "" {
		return "-"
	}
	return owner
}

func clientType(public bool) string {
	if public {
		return "public"
	}
	return "confidential"
}

func clientGet(ctx context.Context, e env, args []string) error {
	a := newAdminCmd(e, "client get")
	id, store, err := a.openNamed(ctx, e, args, "id", "client id")
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := store.GetClient(ctx, id)
	if err != nil {
		return fmt.Errorf("client get: %q: %w", id, err)
	}
	v := admin.ViewClient(c)
	if *a.asJSON {
		return writeJSON(e.stdout, v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"type", clientType(v.Public)},
		{"first_party", fmt.Sprint(v.FirstParty)},
		{"dpop_bound_access_tokens", fmt.Sprint(v.DPoPBoundAccessTokens)},
		{"require_pushed_authorization_requests", fmt.Sprint(v.RequirePushedAuthorizationRequests)},
		{"insecure_skip_consent_for_native_redirects", fmt.Sprint(v.InsecureSkipConsentForNativeRedirects)},
		{"grant_types", strings.Join(v.GrantTypes, " ")},
		{"scopes", strings.Join(v.Scopes, " ")},
		{"redirect_uris", strings.Join(v.RedirectURIs, " ")},
		{"post_logout_redirect_uris", strings.Join(v.PostLogoutRedirectURIs, " ")},
		{"client_uri", v.ClientURI},
		{"backchannel_logout_uri", v.BackchannelLogoutURI},
		{"introspection_audiences", strings.Join(v.IntrospectionAudiences, " ")},
		{"token_endpoint_auth_method", c.AuthMethod()},
		{"jwks", string(v.JWKS)},
		{"jwks_uri", v.JWKSURI},
		{"managed_by", managedBy(v.ManagedBy)},
		{"created_at", v.CreatedAt.UTC().Format(time.RFC3339)},
		{"updated_at", v.UpdatedAt.UTC().Format(time.RFC3339)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func clientDelete(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "client delete")
	id, store, err := a.openNamed(ctx, e, args, "id", "client id")
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, a.cfg, store, "client delete", err, id) }()
	c, err := store.GetClient(ctx, id)
	if err != nil {
		return fmt.Errorf("client delete: %q: %w", id, err)
	}
	if c.ManagedBy == storage.ManagedByBootstrap {
		return usagef("client delete: %s", admin.ManagedDetail("client", id))
	}
	// Its refresh tokens, codes and consents die with the record, also
	// when the id is registered again (storage.Client.Generation); its
	// access tokens are cut off before the record goes, so a failure
	// leaves the client in place for a retry.
	if err := revokeAccessTokens(ctx, store, a.cfg, storage.ClientCutoff(id)); err != nil {
		return fmt.Errorf("client delete: %q: %w", id, err)
	}
	if err := store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("client delete: %q: %w", id, err)
	}
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]string{"deleted": id})
	}
	fmt.Fprintf(e.stdout, "deleted client %s\n", id)
	return nil
}
