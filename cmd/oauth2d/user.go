package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/backchannel"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func userCommand(ctx context.Context, e env, args []string) error {
	return subcommand(e, "user", args, map[string]func([]string) error{
		"create":        func(a []string) error { return userCreate(ctx, e, a) },
		"list":          func(a []string) error { return userList(ctx, e, a) },
		"delete":        func(a []string) error { return userDelete(ctx, e, a) },
		"factors":       func(a []string) error { return userFactors(ctx, e, a) },
		"reset-factors": func(a []string) error { return userResetFactors(ctx, e, a) },
	})
}

// userCreate reads the password from stdin so it never shows in argv, the
// process list or the shell history.
func userCreate(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "user create")
	var roles stringList
	username := a.fs.String("username", "", "username (required)")
	name := a.fs.String("name", "", "display name")
	email := a.fs.String("email", "", "email address")
	emailVerified := a.fs.Bool("email-verified", false, "the email address is known to be the user's (OIDC email_verified)")
	a.fs.Var(&roles, "role", "role (repeatable), e.g. user or admin")
	cfg, err := a.parse(e, args, 0)
	if err != nil {
		return err
	}
	if *username == "" {
		return usagef("user create: --username is required")
	}
	u := &storage.User{Username: *username, Roles: roles, Name: *name, Email: *email, EmailVerified: *emailVerified}
	if errs := account.ValidateUser(u); len(errs) > 0 {
		return usage(errors.Join(errs...))
	}
	password, err := readSecretLine(e.stdin, "password", account.MaxPasswordLen)
	if err != nil {
		return err
	}
	if password, err = account.CheckNewPassword(password, u.Username, u.Email, account.ByOperator); err != nil {
		return usage(err)
	}
	store, err := a.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, cfg, store, "user create", err, u.Username) }()
	if u.PasswordHash, err = secret.NewHasher(secret.DefaultParams()).Hash(password); err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	if err := store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("user create: username %q is taken", u.Username)
		}
		return fmt.Errorf("user create: %w", err)
	}
	if *a.asJSON {
		return writeJSON(e.stdout, admin.ViewUser(u))
	}
	fmt.Fprintf(e.stdout, "created user %s (id %s)\n", u.Username, u.ID)
	return nil
}

func userList(ctx context.Context, e env, args []string) error {
	a := newAdminCmd(e, "user list")
	store, err := a.open(ctx, e, args)
	if err != nil {
		return err
	}
	defer store.Close()
	users, err := store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("user list: %w", err)
	}
	views := make([]admin.UserView, 0, len(users))
	for _, u := range users {
		views = append(views, admin.ViewUser(u))
	}
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]any{"users": views})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tID\tROLES\tMANAGED-BY\tNAME")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Username, v.ID, strings.Join(v.Roles, ","), managedBy(v.ManagedBy), v.Name)
	}
	return tw.Flush()
}

func userDelete(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "user delete")
	username, store, err := a.openNamed(ctx, e, args, "username", "username")
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, a.cfg, store, "user delete", err, username) }()
	u, err := store.GetUserByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("user delete: %q: %w", username, err)
	}
	if u.ManagedBy == storage.ManagedByBootstrap {
		return usagef("user delete: %s", admin.ManagedDetail("user", username))
	}
	// Sessions end before the record goes, so a failure leaves the user
	// in place for a retry.
	if err := endUserSessions(ctx, store, a.cfg, u.ID); err != nil {
		return fmt.Errorf("user delete: %q: %w", username, err)
	}
	if err := store.DeleteUser(ctx, u.ID); err != nil {
		return fmt.Errorf("user delete: %q: %w", username, err)
	}
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]string{"deleted": username, "id": u.ID})
	}
	fmt.Fprintf(e.stdout, "deleted user %s (id %s)\n", username, u.ID)
	return nil
}

// endUserSessions revokes every token of the user and signs them out of
// every browser session, as the admin API's revoke-tokens does; their
// relying parties are told by the running servers' back-channel workers,
// which deliver what this queues.
func endUserSessions(ctx context.Context, store *storage.Store, cfg *config.Config, userID string) error {
	if _, err := store.RevokeUserFamilies(ctx, userID, ""); err != nil {
		return err
	}
	if err := revokeAccessTokens(ctx, store, cfg, storage.SubjectCutoff(userID)); err != nil {
		return err
	}
	logouts, err := backchannel.NewLogouts(store, nil, nil, time.Now)
	if err != nil {
		return err
	}
	return logouts.UserSignedOut(ctx, userID)
}

// findUser takes a username or, failing that, a user id.
func findUser(ctx context.Context, store *storage.Store, name string) (*storage.User, error) {
	u, err := store.GetUserByUsername(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = store.GetUser(ctx, name)
	}
	return u, err
}

// userFactors lists a user's second factors, never a secret.
func userFactors(ctx context.Context, e env, args []string) error {
	a := newAdminCmd(e, "user factors")
	name, store, err := a.openNamed(ctx, e, args, "user", "username or id")
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := findUser(ctx, store, name)
	if err != nil {
		return fmt.Errorf("user factors: %q: %w", name, err)
	}
	v, err := admin.LoadFactors(ctx, store, u.ID)
	if err != nil {
		return fmt.Errorf("user factors: %q: %w", name, err)
	}
	if *a.asJSON {
		return writeJSON(e.stdout, v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FACTOR\tID\tNAME\tSINCE\tLAST-USED")
	if v.TOTP != nil {
		fmt.Fprintf(tw, "totp\t-\t-\t%s\t-\n", v.TOTP.Since.Format(time.RFC3339))
	}
	if v.RecoveryCodesLeft > 0 || v.RecoveryCodeUsedAt != nil {
		fmt.Fprintf(tw, "recovery-codes\t-\t%d left\t-\t%s\n", v.RecoveryCodesLeft, timeOrDash(v.RecoveryCodeUsedAt))
	}
	for _, p := range v.Passkeys {
		fmt.Fprintf(tw, "passkey\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.CreatedAt.Format(time.RFC3339), timeOrDash(p.LastUsedAt))
	}
	return tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// userResetFactors removes every second factor of a user ("a lost
// phone") and ends their tokens and sessions, as the admin API's
// DELETE /admin/v1/users/:id/factors does.
func userResetFactors(ctx context.Context, e env, args []string) (err error) {
	a := newAdminCmd(e, "user reset-factors")
	name, store, err := a.openNamed(ctx, e, args, "user", "username or id")
	if err != nil {
		return err
	}
	defer store.Close()
	removed := ""
	defer func() { auditChangeBecause(ctx, e, a.cfg, store, "user reset-factors", err, name, removed) }()
	u, err := findUser(ctx, store, name)
	if err != nil {
		return fmt.Errorf("user reset-factors: %q: %w", name, err)
	}
	what, err := admin.RemoveFactors(ctx, store, u.ID)
	if err != nil {
		return fmt.Errorf("user reset-factors: %q: %w", name, err)
	}
	if what == "" {
		what = "none"
	}
	if err := endUserSessions(ctx, store, a.cfg, u.ID); err != nil {
		return fmt.Errorf("user reset-factors: %q: %w", name, err)
	}
	removed = "second factors removed: " + what
	if *a.asJSON {
		return writeJSON(e.stdout, map[string]string{"id": u.ID, "removed": what})
	}
	fmt.Fprintf(e.stdout, "removed the second factors of %s (id %s): %s; their tokens and sessions are ended\n", u.Username, u.ID, what)
	return nil
}
