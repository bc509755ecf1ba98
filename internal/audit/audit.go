package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"
)

// Event names (the schema's event field).
const (
	SignIn            = "sign_in"              // the login page or the password grant checked a password
	ConsentGranted    = "consent.granted"      // a person allowed a client on the consent page
	ConsentDenied     = "consent.denied"       // a person refused on the consent page
	ConsentWithdrawn  = "consent.withdrawn"    // a person withdrew a consent (account page)
	TokenIssued       = "token.issued"         // an access token (and what came with it) was issued
	RefreshReuse      = "refresh_token.reused" // a rotated refresh token came back: its family is revoked
	TokenRevoked      = "token.revoked"        // RFC 7009 revocation of one token (and its family)
	TokensCutOff      = "tokens.cut_off"       // every token of a user or client issued so far revoked
	BackchannelLogout = "backchannel_logout.delivery"
	AdminChange       = "admin.change"     // the admin API or the CLI changed something, or tried to
	AdminRead         = "admin.read"       // the admin API was read (a list of users is worth knowing who saw)
	PasswordChanged   = "password.changed" // a person changed their password on the account page, or tried to
	SessionEnded      = "session.ended"    // a person signed out sessions on the account page
	SecondFactor      = "second_factor"    // a second factor was enrolled, removed, or a recovery code used or renewed (reason says which)
	// Dynamic client registration (RFC 7591) and its management (RFC
	// 7592): the actor is "registration" for a new client, the client
	// itself for a change of its own registration.
	ClientRegistered = "client.registered"
	ClientUpdated    = "client.updated"
	ClientDeleted    = "client.deleted"
	// ClientAuthentication: a client failed to authenticate (wrong secret,
	// a refused client assertion); successes are seen in token.issued.
	ClientAuthentication = "client_authentication"
	PasskeyAdded         = "passkey.added"   // a person registered a passkey (account page)
	PasskeyRemoved       = "passkey.removed" // a person removed a passkey (account page)
	PasskeyCounter       = "passkey.counter" // a passkey's signature counter went backwards: refused, maybe cloned
)

// Outcomes (the schema's outcome field). Back-channel deliveries say
// more: sent, retry (failed, tried again later) or given_up.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audit record. Time, IP and RequestID are filled in by
// Emit when empty (from the clock and the request); every other field is
// the emitter's. Empty fields are left out of the log line and the
// stream entry.
type Event struct {
	Time    time.Time
	Event   string // one of the names above
	Outcome string // Success, Failure, or the delivery outcome
	// Actor is who acted: a user id, a client id (client credentials,
	// RFC 7009 revocation), "admin:<sub>" for the admin API, "cli:<OS
	// user>" for the CLI, or "system" for the server's own work.
	Actor string
	// Subject is whose account or token the event is about: a user id,
	// or a client id for a client's own token. A failed sign-in with a
	// username that belongs to no one has UnknownUsername's hash here.
	Subject   string
	Client    string // the OAuth client involved
	IP        string // the client address of the request
	RequestID string // the request's X-Request-Id
	Reason    string // why it failed or was done: a fixed word or short text, never a secret
	// Resource is what an admin change or read acted on ("POST
	// /admin/v1/users", "client my-app"), or the refresh-token family.
	Resource  string
	GrantType string // token.issued
	Scope     string // space-separated: token.issued, consent.granted
	Audience  string // space-separated aud of an issued token
	JTI       string // the access token's id; never the token
}

// UnknownUsername names a username that belongs to no user in a failed
// sign-in's subject without writing down what was typed (people type
// their password into the username field): "username-sha256:" and the
// first 16 hex digits of the SHA-256 of the username. Repeated attempts
// on one name stay visible as one value.
func UnknownUsername(username string) string {
	sum := sha256.Sum256([]byte(username))
	return "username-sha256:" + hex.EncodeToString(sum[:8])
}

// fields are the event's non-empty fields in the schema's order, under
// their schema names: the log line's attributes and the stream entry's
// fields.
func (e Event) fields() []field {
	all := []field{
		{"time", e.Time.UTC().Format(time.RFC3339Nano)},
		{"event", e.Event}, {"outcome", e.Outcome}, {"actor", e.Actor}, {"subject", e.Subject},
		{"client", e.Client}, {"ip", e.IP}, {"request_id", e.RequestID}, {"reason", e.Reason},
		{"resource", e.Resource}, {"grant_type", e.GrantType}, {"scope", e.Scope}, {"aud", e.Audience}, {"jti", e.JTI},
	}
	out := all[:0]
	for _, f := range all {
		if f.value != "" {
			out = append(out, f)
		}
	}
	return out
}

type field struct{ name, value string }

type logKey struct{}
type baseKey struct{}

// NewContext returns ctx carrying l: Emit under it records to l.
func NewContext(ctx context.Context, l *Log) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// With returns ctx carrying base: Emit under it fills each empty field
// of an event from base (and from an outer With's base). The route table
// gives every request its id and client address this way; the token
// endpoint adds the client and the grant type.
func With(ctx context.Context, base Event) context.Context {
	if outer, ok := ctx.Value(baseKey{}).(Event); ok {
		base = base.orFrom(outer)
	}
	return context.WithValue(ctx, baseKey{}, base)
}

// Emit records ev to the Log in ctx; without one (a handler built
// outside the server, in a unit test) it does nothing. It never blocks:
// see Log.
func Emit(ctx context.Context, ev Event) {
	l, _ := ctx.Value(logKey{}).(*Log)
	if l == nil {
		return
	}
	if base, ok := ctx.Value(baseKey{}).(Event); ok {
		ev = ev.orFrom(base)
	}
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	l.record(ctx, ev)
}

// orFrom is e with its empty fields taken from base.
func (e Event) orFrom(base Event) Event {
	if e.Time.IsZero() {
		e.Time = base.Time
	}
	for _, f := range []struct{ dst, src *string }{
		{&e.Event, &base.Event}, {&e.Outcome, &base.Outcome}, {&e.Actor, &base.Actor}, {&e.Subject, &base.Subject},
		{&e.Client, &base.Client}, {&e.IP, &base.IP}, {&e.RequestID, &base.RequestID}, {&e.Reason, &base.Reason},
		{&e.Resource, &base.Resource}, {&e.GrantType, &base.GrantType}, {&e.Scope, &base.Scope},
		{&e.Audience, &base.Audience}, {&e.JTI, &base.JTI},
	} {
		*f.dst = cmp.Or(*f.dst, *f.src)
	}
	return e
}

// Join is a list as the schema writes it, space-separated.
func Join(values []string) string { return strings.Join(values, " ") }

// logAttrs are ev's fields as one slog group.
func logAttrs(ev Event) slog.Attr {
	fs := ev.fields()
	attrs := make([]any, 0, len(fs))
	for _, f := range fs {
		attrs = append(attrs, slog.String(f.name, f.value))
	}
	return slog.Group("audit", attrs...)
}
