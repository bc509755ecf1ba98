package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/bootstrap"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The model test of DESIGN §9 (issue 17): seeded, reproducible random
// sequences of requests against the whole server (webtest: server.New,
// the route table, real Redis) with an injected clock, and after every
// step the invariants that must hold whatever happened before:
//
//  1. every issued access token's scope ⊆ what the grant holds ∩ the
//     client's current scopes ∩ what the user's current roles allow, and
//     it carries the user's current roles that its scope carries (a role
//     with powers only through a scope that uses them);
//  2. a revoked family, a deleted user or a withdrawn consent never
//     yields another token; reuse outside the grace window revokes the
//     family and denies its newest access token;
//  3. a DPoP-bound family never issues without its key;
//  4. a code is redeemed at most once;
//  5. no request answers 5xx;
//  6. every access token is for the resources the grant reaches (RFC
//     8707): its aud is what the request named (or, naming none, the
//     resources its scopes belong to), it carries only scopes those
//     resources define, and every built-in API outside its aud refuses
//     it (401); a refresh never reaches a resource outside its family's.
//
// CI runs modelChecks sequences (rapid's -rapid.checks, when given,
// wins): go test -run TestIssuanceModel -rapid.checks=2000 ./cmd/oauth2d/
// runs many more, -rapid.seed=N replays one.

const (
	modelChecks = 40
	modelGrace  = 30 * time.Second
	modelAccess = 15 * time.Minute
	modelAbs    = 24 * time.Hour // webtest's absolute family lifetime
)

// clock is the server's injected clock: it only moves forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// modelScopes are what the model's clients may be registered for; "x:tp"
// only the third-party client is, at first.
var modelScopes = []string{"openid", "profile", "offline_access", "comments:read", "comments:write", "comments:moderate", "admin", "x:tp", "photos:read"}

// The model's resources (RFC 8707): the built-in comments API (the
// default resource, which x:tp goes with since no resource defines it)
// and admin API, a stored photos API, and one nobody registered.
const (
	modelPhotos  = "https://photos.model.example/"
	modelUnknown = "https://unknown.model.example/"
)

// modelResources are the registered resources and the scopes each
// defines, for the model's own reading of the policy.
func (m *model) modelResources() map[string][]string {
	all := map[string][]string{
		m.srv.Issuer + "/api":               {"comments:read", "comments:write", "comments:moderate"},
		webtest.AdminAudience(m.srv.Issuer): {"admin"},
	}
	if !m.photosGone {
		all[modelPhotos] = []string{"photos:read"}
	}
	return all
}

// asScope: the authorization server's own scopes ride with any resource.
func asScope(s string) bool {
	return slices.Contains([]string{"openid", "profile", "email", "offline_access"}, s)
}

// carries: a token for resource r may carry s.
func (m *model) carries(r, s string) bool {
	all := m.modelResources()
	if slices.Contains(all[r], s) {
		return true
	}
	for _, defined := range all {
		if slices.Contains(defined, s) {
			return false
		}
	}
	return r == m.srv.Issuer+"/api" // the default resource takes the scopes nobody defines
}

func (m *model) carriedBy(res []string, s string) bool {
	return asScope(s) || slices.ContainsFunc(res, func(r string) bool { return m.carries(r, s) })
}

// reach is the resources a request with resources req reaches in a grant
// restricted to held (none: unrestricted).
func (m *model) reach(req, held []string) []string {
	switch {
	case len(req) > 0:
		return req
	case len(held) > 0:
		// A resource deleted since gets no token.
		return slices.DeleteFunc(slices.Clone(held), func(r string) bool { _, ok := m.modelResources()[r]; return !ok })
	}
	var all []string
	for r := range m.modelResources() {
		all = append(all, r)
	}
	return all
}

// resourcesOK: every one of req is registered, within held (when held
// names any), and defines or carries each scope asked for.
func (m *model) resourcesOK(req, held, scope []string) bool {
	for _, r := range req {
		if _, ok := m.modelResources()[r]; !ok || len(held) > 0 && !slices.Contains(held, r) {
			return false
		}
	}
	return len(req) == 0 || !slices.ContainsFunc(scope, func(s string) bool { return !m.carriedBy(req, s) })
}

// drawResources is a resource parameter: mostly none, else some of the
// registered ones, sometimes with one nobody registered.
func (m *model) drawResources(t *rapid.T, label string) []string {
	if rapid.IntRange(0, 2).Draw(t, label+" any") > 0 {
		return nil
	}
	names := []string{m.srv.Issuer + "/api", webtest.AdminAudience(m.srv.Issuer), modelPhotos, modelUnknown}
	return rapid.SliceOfNDistinct(rapid.SampledFrom(names), 1, 2, rapid.ID[string]).Draw(t, label)
}

type modelClient struct {
	key, id, secret string
	public, first   bool
	grants          []string
	scopes          []string // the registration now
	// selfReg: registered through RFC 7591 (model_dcr_test.go), with
	// regToken, until an administrator takes it over.
	selfReg  bool
	regToken string
}

type modelUser struct {
	key, id, username string
	roles             []string
	deleted           bool
	managed           bool // by the bootstrap file: roles change by re-applying it
	browser           *browser
	totp              *modelTOTP // enrolled second factor (model_mfa_test.go); nil: none
	sessionAMR        []string   // what the browser session proved
}

type family struct {
	id           string
	client       *modelClient
	user         *modelUser
	held         []string // the family's grant
	resources    []string // the resources it is restricted to; none: unrestricted
	tokens       []string // every refresh token, oldest first; the last is current
	rotatedAt    time.Time
	born         time.Time
	key          *dpoptest.Key // the bound key, nil: unbound
	dead         bool          // revoked, or its user or consent gone
	lastAccess   string
	accessBearer bool     // lastAccess is a bearer token
	amr          []string // how the user authenticated for the grant
}

// expired: past the family's absolute expiry, which the rotate script
// checks against the server's clock. The sliding expiry is a Redis TTL,
// on Redis's own clock, which the injected one does not move.
func (f *family) expired(now time.Time) bool {
	return !now.Before(f.born.Add(modelAbs))
}

type idToken struct {
	raw    string
	client *modelClient
	user   *modelUser
}

type code struct {
	value, verifier string
	client          *modelClient
	user            *modelUser
	scope           []string
	resources       []string
	redeemed        *family // nil before; a placeholder family when no refresh was issued
	redeemedAccess  string
	spent           bool
	void            bool     // its client was deleted since: nobody may redeem it
	amr             []string // what the session it was issued in proved
	// authAfter: the request said max_age (OIDC Core §3.1.2.1), so the
	// person must have authenticated since; zero without max_age.
	authAfter time.Time
}

// model is one sequence's expected state.
type model struct {
	t       *rapid.T
	tb      testing.TB // the test's own, for helpers that take one (dpoptest: they fail only on a broken RNG)
	srv     *webtest.Server
	clk     *clock
	ver     *token.Verifier
	admin   *adminAPI
	applier *bootstrap.Applier
	cliEnv  map[string]string
	hash    string

	clients  []*modelClient
	users    []*modelUser
	families []*family
	codes    []*code
	idTokens []idToken              // ID tokens the code flows issued
	consents map[[2]string][]string // (user key, client key) → remembered scopes
	// photosGone: the photos resource is deleted (toggleResource).
	photosGone bool
	dcrSeq     int // self-registered clients so far (register)

	// denied are access tokens revoked for certain: seen refused by the
	// protected API, or issued to a user before the admin API revoked
	// the user's tokens. A follower of the revocation feed must refuse
	// them too, while they have not expired.
	denied   []string
	follower feedFollower
}

var modelSeq int64
var modelSeqMu sync.Mutex

func nextSeq() int64 {
	modelSeqMu.Lock()
	defer modelSeqMu.Unlock()
	modelSeq++
	return modelSeq
}

func TestIssuanceModel(t *testing.T) {
	if f := flag.Lookup("rapid.checks"); f != nil && !isFlagSet("rapid.checks") {
		_ = f.Value.Set(fmt.Sprint(modelChecks))
	}
	clk := &clock{now: time.Now()}
	srv := webtest.New(t, withDocuments(t, webtest.Options{Now: clk.Now, RefreshGrace: modelGrace, AccessTokenTTL: modelAccess, Localhost: true,
		Registration: modelRegistration()}))
	ver, err := token.NewVerifier(srv.Keys, srv.Issuer, []string{srv.Issuer + "/api", webtest.AdminAudience(srv.Issuer),
		srv.Issuer + "/oauth2/userinfo", modelPhotos}, 0, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.UpsertResource(t.Context(), &storage.Resource{ID: modelPhotos, Scopes: []string{"photos:read"}}); err != nil {
		t.Fatal(err)
	}
	// bcrypt at its lowest cost: the model signs people in thousands of
	// times, and what it tests is who gets which token, not hashing.
	h, err := bcrypt.GenerateFromPassword([]byte("model-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	adminHash, err := bcrypt.GenerateFromPassword([]byte(modelAdminSecret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.CreateClient(t.Context(), &storage.Client{ID: modelAdminID, SecretHash: string(adminHash),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	adm := &adminAPI{srv: srv, clk: clk}
	applier := bootstrap.NewApplier(srv.Store, secret.NewHasher(secret.DefaultParams()), slog.New(slog.DiscardHandler), clk.Now)
	cliEnv := map[string]string{"OAUTH2D_REDIS_URL": srv.RedisURL, "OAUTH2D_REDIS_PREFIX": srv.Store.Prefix()}
	inEmptyDir(t)

	rapid.Check(t, func(rt *rapid.T) {
		m := &model{t: rt, tb: t, srv: srv, clk: clk, ver: ver, admin: adm, applier: applier, cliEnv: cliEnv,
			hash: string(h), consents: map[[2]string][]string{}}
		m.seed()
		rt.Repeat(map[string]func(*rapid.T){
			"":                 m.checkAll,
			"password":         m.passwordGrant,
			"codeFlow":         m.codeFlow,
			"redeemAgain":      m.redeemAgain,
			"refresh":          m.refresh,
			"refreshRace":      m.refreshRace,
			"setRolesAdminAPI": m.setRolesAdminAPI,
			"setRolesFile":     m.setRolesFile,
			"withdrawConsent":  m.withdrawConsent,
			"deleteUser":       m.deleteUser,
			"editClientScopes": m.editClientScopes,
			"revokeUser":       m.revokeUser,
			"advance":          m.advance,
			"introspect":       m.introspect,
			"recreateClient":   m.recreateClient,
			"hintPromptNone":   m.hintPromptNone,
			"toggleResource":   m.toggleResource,
			"followFeed":       m.followFeed,
			"deviceFlow":       m.deviceFlow,
			"pkjwtToken":       m.pkjwtToken,
			"documentCodeFlow": m.documentCodeFlow,
			"enrolTOTP":        m.enrolTOTP,
			"removeTOTP":       m.removeTOTP,
			"resetFactors":     m.resetFactors,
			"passkeySignIn":    m.passkeySignIn,
			"register":         m.register,
			"challengeFlow":    m.challengeFlow,
		})
	})
}

func isFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func (m *model) seed() {
	ctx := context.Background()
	if err := m.srv.Store.UpsertResource(ctx, &storage.Resource{ID: modelPhotos, Scopes: []string{"photos:read"}}); err != nil {
		m.t.Fatal(err)
	}
	seq := nextSeq()
	sfx := fmt.Sprintf("-%d", seq)
	m.clients = []*modelClient{
		{key: "fp", id: "fp" + sfx, secret: "fp-secret-0123456789", first: true,
			grants: []string{"password", "refresh_token", "authorization_code"}, scopes: without(modelScopes, "x:tp")},
		{key: "tp", id: "tp" + sfx, secret: "tp-secret-0123456789",
			grants: []string{"authorization_code", "refresh_token"}, scopes: slices.Clone(modelScopes)},
		{key: "pub", id: "pub" + sfx, public: true, first: true,
			grants: []string{"password", "refresh_token", "authorization_code"}, scopes: without(modelScopes, "x:tp")},
	}
	for _, c := range m.clients {
		sc := &storage.Client{ID: c.id, Public: c.public, FirstParty: c.first, GrantTypes: c.grants,
			Scopes: slices.Clone(c.scopes), RedirectURIs: []string{m.srv.RedirectURI}}
		if !c.public {
			sc.SecretHash = m.hash
			if hashed, err := bcrypt.GenerateFromPassword([]byte(c.secret), bcrypt.MinCost); err == nil {
				sc.SecretHash = string(hashed)
			}
		}
		if err := m.srv.Store.CreateClient(ctx, sc); err != nil {
			m.t.Fatal(err)
		}
	}
	m.users = []*modelUser{
		{key: "alice", username: "alice" + sfx, roles: []string{"user"}},
		{key: "boss", username: "boss" + sfx, roles: []string{"admin"}},
	}
	for _, u := range m.users {
		su := &storage.User{Username: u.username, PasswordHash: m.hash, Roles: slices.Clone(u.roles)}
		if err := m.srv.Store.CreateUser(ctx, su); err != nil {
			m.t.Fatal(err)
		}
		u.id = su.ID
	}
	// carol comes from the bootstrap file: her roles change by editing
	// the file and applying it again, which revokes nothing.
	carol := &modelUser{key: "carol", username: "carol" + sfx, roles: []string{"user"}, managed: true}
	m.users = append(m.users, carol)
	m.applyFile(carol)
}

// applyFile applies a bootstrap file that declares u as the model has it.
func (m *model) applyFile(u *modelUser) {
	ctx := context.Background()
	f := &bootstrap.File{Users: []bootstrap.User{{Username: u.username, Password: "model-password", Roles: slices.Clone(u.roles)}}}
	if _, err := m.applier.Apply(ctx, f, account.Policy{InsecureDev: true}); err != nil {
		m.t.Fatalf("apply the bootstrap file: %v", err)
	}
	su, err := m.srv.Store.GetUserByUsername(ctx, u.username)
	if err != nil {
		m.t.Fatal(err)
	}
	u.id = su.ID
}

// ---- operations ----

// pickUser and pickClient draw by key, so that a failing sequence reads
// as names.
func (m *model) pickUser(t *rapid.T) *modelUser {
	keys := make([]string, len(m.users))
	for i, u := range m.users {
		keys[i] = u.key
	}
	k := rapid.SampledFrom(keys).Draw(t, "user")
	return m.users[slices.Index(keys, k)]
}

func (m *model) pickClient(t *rapid.T, grant string) *modelClient {
	var cs []*modelClient
	for _, c := range m.clients {
		if slices.Contains(c.grants, grant) {
			cs = append(cs, c)
		}
	}
	return m.drawClient(t, "client", cs)
}

func (m *model) drawClient(t *rapid.T, label string, cs []*modelClient) *modelClient {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.key
	}
	k := rapid.SampledFrom(keys).Draw(t, label)
	return cs[slices.Index(keys, k)]
}

// drawScope is a scope parameter: none, a subset of base, base and one
// more, or something only another client or role may have.
func drawScope(t *rapid.T, label string, base []string) []string {
	switch rapid.IntRange(0, 4).Draw(t, label+" kind") {
	case 0:
		return nil
	case 1, 2:
		if len(base) == 0 {
			return nil
		}
		return rapid.SliceOfNDistinct(rapid.SampledFrom(base), 1, len(base), rapid.ID[string]).Draw(t, label)
	case 3:
		extra := rapid.SampledFrom(modelScopes).Draw(t, label+" extra")
		if slices.Contains(base, extra) {
			return slices.Clone(base)
		}
		return append(slices.Clone(base), extra)
	default:
		return []string{rapid.SampledFrom([]string{"admin", "comments:moderate", "x:tp", "comments:write"}).Draw(t, label)}
	}
}

func (m *model) passwordGrant(t *rapid.T) {
	c := m.pickClient(t, "password")
	u := m.pickUser(t)
	scope := drawScope(t, "scope", c.scopes)
	var key *dpoptest.Key
	if c.public && rapid.Bool().Draw(t, "dpop") {
		key = dpoptest.NewKey(m.tb)
	}
	resources := m.drawResources(t, "resources")
	f := url.Values{"grant_type": {"password"}, "username": {u.username}, "password": {"model-password"}, "resource": resources}
	if scope != nil {
		f.Set("scope", strings.Join(scope, " "))
	}
	res := m.token(c, f, key)
	if res.status != 200 {
		if !u.deleted && !u.hasFactor() && subset(scope, m.allowed(c, u, c.scopes)) && m.resourcesOK(resources, nil, scope) && res.status != 429 {
			t.Fatalf("password grant for %s within the policy refused: %d %s", u.key, res.status, res.raw)
		}
		return
	}
	if u.deleted {
		t.Fatalf("a deleted user signed in: %s", res.raw)
	}
	if u.hasFactor() {
		t.Fatalf("INVARIANT 1: the password grant signed in %s, who has a second factor: %s", u.key, res.raw)
	}
	if !m.resourcesOK(resources, nil, scope) {
		t.Fatalf("INVARIANT 6: resources %v with scope %v answered 200: %s", resources, scope, res.raw)
	}
	m.checkIssued(res, c, u, c.scopes, scope, key, resources, nil)
	m.checkAuthn(res, pwdAMR)
	if fam := m.startFamily(res, c, u, key); fam != nil {
		fam.resources, fam.amr = resources, pwdAMR
	}
}

func (m *model) codeFlow(t *rapid.T) {
	c := m.pickClient(t, "authorization_code")
	u := m.pickUser(t)
	scope := drawScope(t, "scope", c.scopes)
	decision := rapid.SampledFrom([]string{"allow", "deny"}).Draw(t, "decision")
	remember := rapid.Bool().Draw(t, "remember")
	if u.deleted {
		return // the login page refuses; nothing to check beyond no 5xx
	}
	resources := m.drawResources(t, "resources")
	b := m.browserOf(u)
	params, verifier := webtest.CodeRequest(c.id, strings.Join(scope, " "))
	params.Set("redirect_uri", m.srv.RedirectURI)
	params["resource"] = resources
	var authAfter time.Time
	if rapid.IntRange(0, 3).Draw(t, "max_age") == 0 {
		// Step-up by age: a session older than a second signs in again.
		params.Set("max_age", "1")
		authAfter = m.clk.Now().Add(-2 * time.Second)
	}
	p := b.follow(b.get("/oauth2/authorize?" + params.Encode()))
	asked := false
	if strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.post("/login", url.Values{"username": {u.username}, "password": {"model-password"},
			"csrf_token": {p.hidden("csrf_token")}, "req": {p.hidden("req")}}))
		p = m.afterPassword(t, u, b, p)
	}
	if strings.Contains(p.body, `name="decision"`) {
		asked = true
		f := url.Values{"decision": {decision}, "csrf_token": {p.hidden("csrf_token")}, "req": {p.hidden("req")}, "remember": {"no"}}
		if remember {
			f["remember"] = []string{"no", "yes"}
		}
		p = b.follow(b.post("/consent", f))
	}
	loc := p.location()
	if loc == nil {
		if !subset(scope, m.allowed(c, u, c.scopes)) {
			return // an invalid_scope request with no redirect is allowed too
		}
		t.Fatalf("authorization ended on %d, not at the client: %.300s", p.status, p.body)
	}
	q := loc.Query()
	if q.Get("code") == "" {
		if q.Get("error") == "" {
			t.Fatalf("redirect without code or error: %s", loc)
		}
		return
	}
	if asked && decision == "deny" {
		t.Fatalf("a code after the person denied: %s", loc)
	}
	if !m.resourcesOK(resources, nil, scope) {
		t.Fatalf("INVARIANT 6: a code for resources %v with scope %v: %s", resources, scope, loc)
	}
	// What the code may hold: the request within the policy and the
	// resources it names; without the page, a remembered consent (or a
	// first-party client) must cover it.
	allowed := m.allowed(c, u, c.scopes)
	want := scope
	if len(want) == 0 {
		want = allowed
	}
	if len(resources) > 0 {
		want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return !m.carriedBy(resources, s) })
	}
	if !subset(want, allowed) {
		t.Fatalf("code for %v beyond what %s may grant %s: %v", want, u.key, c.key, allowed)
	}
	if !asked && c.selfReg && !subset(want, m.consents[[2]string{u.key, c.key}]) {
		t.Fatalf("INVARIANT: a code for self-registered %s without the consent page (first party %v)", c.key, c.first)
	}
	if !asked && !c.first && !subset(want, m.consents[[2]string{u.key, c.key}]) {
		t.Fatalf("code for %v without asking; remembered consent %v", want, m.consents[[2]string{u.key, c.key}])
	}
	// A public client on a redirect that proves nothing of who receives
	// it (here http://localhost) is asked every time (RFC 8252 §8.6).
	if !asked && c.public {
		t.Fatalf("INVARIANT: a code for public native client %s without the consent page", c.key)
	}
	if asked && decision == "allow" && remember {
		k := [2]string{u.key, c.key}
		if m.consents[k] == nil {
			m.consents[k] = []string{} // remembered, even for no scope at all
		}
		for _, s := range want {
			if !slices.Contains(m.consents[k], s) {
				m.consents[k] = append(m.consents[k], s)
			}
		}
	}
	cd := &code{value: q.Get("code"), verifier: verifier, client: c, user: u, scope: want, resources: resources, amr: u.sessionAMR, authAfter: authAfter}
	m.codes = append(m.codes, cd)
	m.redeem(t, cd)
}

func (m *model) redeem(t *rapid.T, cd *code) {
	c := cd.client
	var key *dpoptest.Key
	if c.public && rapid.Bool().Draw(t, "dpop") {
		key = dpoptest.NewKey(m.tb)
	}
	// A presenter that fails a check (another client, another verifier,
	// another redirect_uri) gets nothing and uses nothing up (DESIGN §9.4).
	if !cd.spent && !cd.void && rapid.Bool().Draw(t, "wrong presenter first") {
		wrong := url.Values{"grant_type": {"authorization_code"}, "code": {cd.value}, "redirect_uri": {m.srv.RedirectURI}, "code_verifier": {cd.verifier}}
		by := c
		switch rapid.IntRange(0, 2).Draw(t, "wrong how") {
		case 0:
			by = m.drawClient(t, "wrong client", without(m.clients, c))
		case 1:
			wrong.Set("code_verifier", strings.Repeat("v", 43))
		default:
			wrong.Set("redirect_uri", m.srv.RedirectURI+"/other")
		}
		if res := m.token(by, wrong, nil); res.status == 200 {
			t.Fatalf("INVARIANT 4: a wrong presenter redeemed a code: %s", res.raw)
		}
	}
	f := url.Values{"grant_type": {"authorization_code"}, "code": {cd.value}, "redirect_uri": {m.srv.RedirectURI}, "code_verifier": {cd.verifier}}
	// The token request may narrow the code's resources (RFC 8707 §2.2);
	// one outside them is refused before the code is used up.
	var resources []string
	if !cd.spent && !cd.void && !cd.user.deleted {
		resources = m.drawResources(t, "redeem resources")
		f["resource"] = resources
	}
	res := m.token(c, f, key)
	if resources != nil && !m.resourcesOK(resources, cd.resources, nil) {
		if res.status == 200 {
			t.Fatalf("INVARIANT 6: a code for %v redeemed for resources %v: %s", cd.resources, resources, res.raw)
		}
		// Refused before the code was used up: the client's next try,
		// without them, redeems it.
		resources = nil
		f.Del("resource")
		res = m.token(c, f, key)
	}
	if cd.spent {
		if res.status == 200 {
			t.Fatalf("code redeemed twice: %s", res.raw)
		}
		// A replay revokes what the first redemption issued.
		if cd.redeemed != nil {
			cd.redeemed.dead = true
			m.wantDenied(t, cd.redeemedAccess, cd.redeemed.key, "the access token of a replayed code")
		}
		return
	}
	if cd.void {
		if res.status == 200 {
			t.Fatalf("INVARIANT 2: a code issued before its client was deleted was redeemed: %s", res.raw)
		}
		return
	}
	cd.spent = true
	if res.status != 200 {
		if !cd.user.deleted {
			t.Fatalf("the rightful presenter of a fresh code was refused: %d %s", res.status, res.raw)
		}
		return
	}
	if cd.user.deleted {
		t.Fatalf("a deleted user's code was redeemed: %s", res.raw)
	}
	m.checkIssued(res, c, cd.user, cd.scope, nil, key, resources, cd.resources)
	m.checkAuthn(res, cd.amr)
	if !cd.authAfter.IsZero() {
		if at := authTimeOf(t, res.str("access_token")); at.Before(cd.authAfter.Truncate(time.Second)) {
			t.Fatalf("INVARIANT 1: max_age=1 asked, yet the token says auth_time %v, before %v", at, cd.authAfter)
		}
	}
	if idt := res.str("id_token"); idt != "" {
		m.idTokens = append(m.idTokens, idToken{raw: idt, client: c, user: cd.user})
	}
	cd.redeemedAccess = res.str("access_token")
	cd.redeemed = m.startFamily(res, c, cd.user, key)
	if cd.redeemed == nil {
		cd.redeemed = &family{client: c, user: cd.user, key: keyIfBound(c, key)}
	}
	// The family holds the code's grant, of which the access token may
	// carry a part.
	cd.redeemed.resources = cd.resources
	cd.redeemed.held = m.allowed(c, cd.user, cd.scope)
	cd.redeemed.amr = cd.amr
}

func (m *model) redeemAgain(t *rapid.T) {
	if len(m.codes) == 0 {
		t.Skip("no code yet")
	}
	m.redeem(t, m.codes[rapid.IntRange(0, len(m.codes)-1).Draw(t, "code")])
}

// refresh presents one of a family's tokens: the current one, the one
// before it (inside or outside the grace window, as the clock has it),
// or an older one; with or without scope, with the right, another or no
// DPoP key, by the family's client or another.
func (m *model) refresh(t *rapid.T) {
	if len(m.families) == 0 {
		t.Skip("no family yet")
	}
	fam := m.families[rapid.IntRange(0, len(m.families)-1).Draw(t, "family")]
	back := rapid.IntRange(0, min(len(fam.tokens)-1, 3)).Draw(t, "tokens back")
	presented := fam.tokens[len(fam.tokens)-1-back]
	scope := drawScope(t, "scope", fam.held)
	key := fam.key
	switch rapid.IntRange(0, 5).Draw(t, "key") {
	case 0:
		key = nil
	case 1:
		key = dpoptest.NewKey(m.tb)
	}
	c := fam.client
	if rapid.IntRange(0, 7).Draw(t, "other client") == 0 {
		c = m.drawClient(t, "client", m.clients)
	}
	resources := m.drawResources(t, "resources")
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {presented}, "resource": resources}
	if scope != nil {
		f.Set("scope", strings.Join(scope, " "))
	}
	now := m.clk.Now()
	res := m.token(c, f, key)
	m.judgeRefresh(t, fam, back, c, scope, resources, key, now, []response{res})
}

// refreshRace sends the current token of a family several times at once:
// one rotation, the others the grace repeat of it.
func (m *model) refreshRace(t *rapid.T) {
	if len(m.families) == 0 {
		t.Skip("no family yet")
	}
	fam := m.families[rapid.IntRange(0, len(m.families)-1).Draw(t, "family")]
	n := rapid.IntRange(2, 6).Draw(t, "n")
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fam.tokens[len(fam.tokens)-1]}}
	now := m.clk.Now()
	out := make([]response, n)
	proofs := make([]string, n)
	for i := range proofs {
		if fam.key != nil {
			proofs[i] = fam.key.Proof(m.tb, dpoptest.For("POST", m.srv.Issuer+"/oauth2/token"))
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = m.tryToken(fam.client, cloneValues(f), proofs[i]) })
	}
	wg.Wait()
	m.judgeRefresh(t, fam, 0, fam.client, nil, nil, fam.key, now, out)
}

// judgeRefresh checks the answers to refreshes of fam and moves the model
// on.
func (m *model) judgeRefresh(t *rapid.T, fam *family, back int, c *modelClient, scope, resources []string,
	key *dpoptest.Key, now time.Time, answers []response) {
	var successors []string
	for _, res := range answers {
		if res.err != nil {
			t.Fatal(res.err)
		}
		m.no5xx(res)
		if res.status == 200 {
			successors = append(successors, res.str("refresh_token"))
		}
	}
	usable := !fam.dead && !fam.expired(now) && !fam.user.deleted && c == fam.client &&
		(fam.key == nil || key == fam.key)
	inGrace := back == 1 && now.Sub(fam.rotatedAt) <= modelGrace
	// A request the policy refuses from what it asks alone is refused
	// before the rotation: the family is left as it was.
	targetOK := m.resourcesOK(resources, fam.resources, scope)
	if len(successors) == 0 {
		switch {
		case !usable:
		case !targetOK:
		case back == 0 && subset(scope, fam.held):
			t.Fatalf("refresh of a live family with its current token refused: %d %s", answers[0].status, answers[0].raw)
		case back > 0 && !inGrace:
			// Reuse: the family is revoked and its newest access token denied.
			fam.dead = true
			m.wantDenied(t, fam.lastAccess, fam.key, "the newest access token of a reused family")
		}
		return
	}
	if !targetOK {
		t.Fatalf("INVARIANT 6: a refresh of a family restricted to %v answered 200 for resources %v, scope %v: %s",
			fam.resources, resources, scope, answers[0].raw)
	}
	if !usable {
		t.Fatalf("refresh answered 200 for a family that must not issue (dead=%v expired=%v user deleted=%v client=%s bound=%v key=%v): %s",
			fam.dead, fam.expired(now), fam.user.deleted, c.key, fam.key != nil, key != nil, answers[0].raw)
	}
	if back > 1 || back == 1 && !inGrace {
		t.Fatalf("a token %d rotations old answered 200 (grace: %v): %s", back, inGrace, answers[0].raw)
	}
	for _, s := range successors[1:] {
		if s != successors[0] {
			t.Fatalf("one token rotated into two successors: %q, %q", successors[0], s)
		}
	}
	for _, res := range answers {
		if res.status == 200 {
			m.checkIssued(res, c, fam.user, fam.held, scope, key, resources, fam.resources)
			m.checkAuthn(res, fam.amr)
			fam.lastAccess = res.str("access_token")
		}
	}
	if back == 1 {
		if successors[0] != fam.tokens[len(fam.tokens)-1] {
			t.Fatalf("the grace repeat answered another successor than the rotation")
		}
		return
	}
	fam.tokens = append(fam.tokens, successors[0])
	fam.rotatedAt = now
	if fam.key == nil && fam.client.public && key != nil {
		fam.key = key // RFC 9449 §5: bound at its first refresh with a proof
	}
}

func (m *model) setRolesAdminAPI(t *rapid.T) {
	u := m.pickUser(t)
	roles := rapid.SampledFrom([][]string{{"user"}, {"admin"}, {"user", "admin"}, {}}).Draw(t, "roles")
	if u.deleted || u.managed {
		return
	}
	changed := !slices.Equal(roles, u.roles)
	st, body := m.admin.do(t, http.MethodPatch, "/admin/v1/users/"+u.id, map[string]any{"roles": roles})
	if st != 200 {
		t.Fatalf("admin PATCH roles: %d %s", st, body)
	}
	u.roles = slices.Clone(roles)
	if changed { // a change of roles through the admin API revokes every token of the user
		m.userRevoked(u)
	}
}

func (m *model) setRolesFile(t *rapid.T) {
	var managed []*modelUser
	for _, u := range m.users {
		if u.managed && !u.deleted {
			managed = append(managed, u)
		}
	}
	if len(managed) == 0 {
		t.Skip("no file user")
	}
	u := managed[rapid.IntRange(0, len(managed)-1).Draw(t, "file user")]
	u.roles = rapid.SampledFrom([][]string{{"user"}, {"admin"}}).Draw(t, "roles")
	m.applyFile(u)
}

func (m *model) withdrawConsent(t *rapid.T) {
	u := m.pickUser(t)
	c := m.drawClient(t, "client", m.clients)
	if u.deleted {
		return
	}
	b := m.browserOf(u)
	p := b.follow(b.get("/account/consents"))
	if strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.post("/login", url.Values{"username": {u.username}, "password": {"model-password"},
			"csrf_token": {p.hidden("csrf_token")}, "req": {p.hidden("req")}}))
		m.afterPassword(t, u, b, p)
		p = b.follow(b.get("/account/consents"))
	}
	csrf := p.hidden("csrf_token")
	if csrf == "" {
		t.Fatalf("no CSRF token on the account page: %d %.300s", p.status, p.body)
	}
	// The page lists every application that holds access: a remembered
	// consent or a live refresh family, whatever made it (issue 22).
	listed := p.hiddenAll("client_id")
	for _, mc := range m.clients {
		_, want := m.consents[[2]string{u.key, mc.key}]
		for _, f := range m.families {
			want = want || f.user == u && f.client == mc && !f.dead && !f.expired(m.clk.Now())
		}
		if got := slices.Contains(listed, mc.id); got != want {
			t.Fatalf("the account page of %s lists %s: %v, want %v (listed %v)", u.key, mc.key, got, want, listed)
		}
	}
	p = b.post("/account/consents/revoke", url.Values{"client_id": {c.id}, "csrf_token": {csrf}})
	if p.status >= 400 {
		t.Fatalf("withdraw consent: %d %.300s", p.status, p.body)
	}
	delete(m.consents, [2]string{u.key, c.key})
	for _, f := range m.families {
		if f.user == u && f.client == c {
			f.dead = true
		}
	}
}

func (m *model) deleteUser(t *rapid.T) {
	u := m.pickUser(t)
	if u.deleted || u.managed {
		return
	}
	if rapid.Bool().Draw(t, "by CLI") {
		var stdout, stderr syncBuffer
		err := run(context.Background(), []string{"user", "delete", "--username", u.username},
			func(k string) string { return m.cliEnv[k] }, strings.NewReader(""), &stdout, &stderr)
		if err != nil {
			t.Fatalf("oauth2d user delete: %v %s", err, stderr.String())
		}
	} else if st, body := m.admin.do(t, http.MethodDelete, "/admin/v1/users/"+u.id, nil); st != 204 {
		t.Fatalf("admin DELETE user: %d %s", st, body)
	}
	u.deleted = true
	for _, f := range m.families {
		if f.user == u {
			f.dead = true
		}
	}
}

func (m *model) editClientScopes(t *rapid.T) {
	c := m.drawClient(t, "client", m.clients)
	scopes := rapid.SliceOfDistinct(rapid.SampledFrom(modelScopes), rapid.ID[string]).Draw(t, "scopes")
	reg := account.ClientRegistration{ID: c.id, Public: c.public, FirstParty: c.first,
		RedirectURIs: []string{m.srv.RedirectURI}, GrantTypes: c.grants, Scopes: scopes}
	st, body := m.admin.do(t, http.MethodPut, "/admin/v1/clients/"+c.id, reg)
	if st != 200 {
		t.Fatalf("admin PUT client: %d %s", st, body)
	}
	c.scopes = slices.Clone(scopes)
	c.selfReg = false // an administrator's registration now
}

// toggleResource deletes the photos resource through the admin API, or
// registers it again: a grant that named it gets no token for it while
// it is gone, and a request for it is invalid_target.
func (m *model) toggleResource(t *rapid.T) {
	if m.photosGone {
		reg := account.ResourceRegistration{ID: modelPhotos, Scopes: []string{"photos:read"}}
		if st, body := m.admin.do(t, http.MethodPost, "/admin/v1/resources", reg); st != http.StatusCreated {
			t.Fatalf("admin POST resource: %d %s", st, body)
		}
	} else if st, body := m.admin.do(t, http.MethodDelete, "/admin/v1/resources/"+url.PathEscape(modelPhotos), nil); st != http.StatusNoContent {
		t.Fatalf("admin DELETE resource: %d %s", st, body)
	}
	m.photosGone = !m.photosGone
}

// hintPromptNone asks, from someone's browser, for a code with
// prompt=none and an ID token of some user as id_token_hint: a code may
// go only to the user the hint names (OIDC Core §3.1.2.1).
func (m *model) hintPromptNone(t *rapid.T) {
	if len(m.idTokens) == 0 {
		t.Skip("no ID token yet")
	}
	hint := m.idTokens[rapid.IntRange(0, len(m.idTokens)-1).Draw(t, "hint")]
	var signedIn []*modelUser
	for _, u := range m.users {
		if u.browser != nil {
			signedIn = append(signedIn, u)
		}
	}
	if len(signedIn) == 0 {
		t.Skip("no browser yet")
	}
	v := signedIn[rapid.IntRange(0, len(signedIn)-1).Draw(t, "browser of")]
	params, _ := webtest.CodeRequest(hint.client.id, "openid")
	params.Set("redirect_uri", m.srv.RedirectURI)
	params.Set("prompt", "none")
	params.Set("id_token_hint", hint.raw)
	b := m.browserOf(v)
	p := b.follow(b.get("/oauth2/authorize?" + params.Encode()))
	loc := p.location()
	if loc == nil {
		return // an error page: the client was deleted, say
	}
	if loc.Query().Get("code") != "" && v != hint.user {
		t.Fatalf("INVARIANT: %s's browser got a code with a hint naming %s", v.key, hint.user.key)
	}
}

// recreateClient deletes a client through the admin API and registers
// its id again: the new registration starts empty (issue 22, RFC 6749
// §10.4): no family, code or consent of the old one works for it.
func (m *model) recreateClient(t *rapid.T) {
	c := m.drawClient(t, "client", m.clients)
	if st, body := m.admin.do(t, http.MethodDelete, "/admin/v1/clients/"+c.id, nil); st != 204 {
		t.Fatalf("admin DELETE client: %d %s", st, body)
	}
	reg := account.ClientRegistration{ID: c.id, Public: c.public, FirstParty: c.first,
		RedirectURIs: []string{m.srv.RedirectURI}, GrantTypes: c.grants, Scopes: c.scopes}
	st, body := m.admin.do(t, http.MethodPost, "/admin/v1/clients", reg)
	if st != 201 {
		t.Fatalf("admin POST client: %d %s", st, body)
	}
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if !c.public {
		c.secret = created.ClientSecret
	}
	c.selfReg = false // an administrator's registration now
	for _, f := range m.families {
		if f.client == c {
			f.dead = true
		}
	}
	for _, cd := range m.codes {
		if cd.client == c {
			cd.void = true
		}
	}
	for k := range m.consents {
		if k[1] == c.key {
			delete(m.consents, k)
		}
	}
}

func (m *model) revokeUser(t *rapid.T) {
	u := m.pickUser(t)
	if u.deleted {
		return
	}
	if st, body := m.admin.do(t, http.MethodPost, "/admin/v1/users/"+u.id+"/revoke-tokens", nil); st != 200 {
		t.Fatalf("admin revoke-tokens: %d %s", st, body)
	}
	for _, f := range m.families {
		if f.user == u && f.lastAccess != "" {
			m.denied = append(m.denied, f.lastAccess)
		}
	}
	m.userRevoked(u)
}

// introspect asks the introspection endpoint about a family's newest
// access token or one of its refresh tokens, as a confidential client: the
// family's own, or another (issue 22: only the token's own client, or one
// registered for its audience, may learn anything; the model's clients
// list no audience).
func (m *model) introspect(t *rapid.T) {
	if len(m.families) == 0 {
		t.Skip("no family yet")
	}
	fam := m.families[rapid.IntRange(0, len(m.families)-1).Draw(t, "family")]
	var confidential []*modelClient
	for _, c := range m.clients {
		if !c.public {
			confidential = append(confidential, c)
		}
	}
	asker := m.drawClient(t, "asker", confidential)
	back := rapid.IntRange(0, min(len(fam.tokens)-1, 2)).Draw(t, "tokens back")
	tok := fam.tokens[len(fam.tokens)-1-back]
	if rapid.Bool().Draw(t, "access token") {
		tok = fam.lastAccess
	}
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(asker.id, asker.secret)
	signed := rapid.Bool().Draw(t, "signed answer")
	if signed { // RFC 9701: the same answer, as token_introspection
		req.Header.Set("Accept", "application/token-introspection+jwt")
	}
	res := m.send(req)
	if res.err != nil {
		t.Fatal(res.err)
	}
	m.no5xx(res)
	if res.status != 200 {
		t.Fatalf("introspection: %d %s", res.status, res.raw)
	}
	if signed {
		res.body = signedIntrospection(t, res.raw)
	}
	active := res.body["active"] == true
	switch {
	case asker != fam.client && (active || len(res.body) != 1):
		t.Fatalf("INVARIANT: %s learned about %s's token: %s", asker.key, fam.client.key, res.raw)
	case active && tok != fam.lastAccess && (back > 0 || fam.dead || fam.user.deleted || fam.expired(m.clk.Now())):
		t.Fatalf("INVARIANT 2: a refresh token the model holds dead is active (back %d, dead %v, user deleted %v): %s",
			back, fam.dead, fam.user.deleted, res.raw)
	}
}

// signedIntrospection is the token_introspection claim of an RFC 9701
// answer; the signature has tests of its own (internal/oauth).
func signedIntrospection(t *rapid.T, raw string) map[string]any {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("signed introspection: not a JWS: %s", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		TokenIntrospection map[string]any `json:"token_introspection"`
	}
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.TokenIntrospection == nil {
		t.Fatalf("signed introspection: %s", payload)
	}
	return claims.TokenIntrospection
}

// userRevoked: every family of u is dead, and every access token u has
// is denied.
func (m *model) userRevoked(u *modelUser) {
	for _, f := range m.families {
		if f.user == u {
			f.dead = true
		}
	}
	// A cut-off is a whole second: what is issued from the next one on
	// is not touched by it.
	m.clk.Advance(time.Second)
}

func (m *model) advance(t *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{time.Second, 10 * time.Second, modelGrace + time.Second, 20 * time.Minute, modelAbs}).Draw(t, "advance")
	m.clk.Advance(d)
}

// checkAll runs after every step: every family the model believes dead
// has its newest access token denied, once it is known to be dead through
// a revocation that denies it.
func (m *model) checkAll(t *rapid.T) {
	m.clk.Advance(time.Second)
}

// ---- invariants on an answer ----

// allowed is held ∩ the client's current scopes ∩ what u's current roles
// allow: the most any token of this grant may carry now.
func (m *model) allowed(c *modelClient, u *modelUser, held []string) []string {
	var out []string
	for _, s := range held {
		if slices.Contains(c.scopes, s) && account.RolesAllowScope(u.roles, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkIssued checks a 200 token answer: invariants 1 and 3 (the access
// token is bound to the proven key, if any).
func (m *model) checkIssued(res response, c *modelClient, u *modelUser, held, requested []string, key *dpoptest.Key, resources, heldResources []string) {
	t := m.t
	claims, err := m.ver.VerifyAccess(res.str("access_token"))
	if err != nil {
		t.Fatalf("issued access token does not verify: %v", err)
	}
	reach := m.reach(resources, heldResources)
	allowed := slices.DeleteFunc(m.allowed(c, u, held), func(s string) bool { return !m.carriedBy(reach, s) })
	if c.selfReg && !subset(claims.Scope, modelRegScopes) {
		t.Fatalf("INVARIANT: token of self-registered %s carries %v beyond registration.scopes %v", c.key, claims.Scope, modelRegScopes)
	}
	if !subset(claims.Scope, allowed) {
		t.Fatalf("INVARIANT 1: token for %s via %s carries scope %v; held %v ∩ client %v ∩ roles %v allow only %v",
			u.key, c.key, claims.Scope, held, c.scopes, u.roles, allowed)
	}
	// Asked for a scope, the answer is that scope less what is no longer
	// allowed; asked for none, everything allowed.
	want := allowed
	if requested != nil {
		want = slices.DeleteFunc(slices.Clone(requested), func(s string) bool { return !slices.Contains(allowed, s) })
	}
	if !slices.Equal(claims.Scope, want) && !(len(claims.Scope) == 0 && len(want) == 0) {
		t.Fatalf("asked for %v (allowed %v), got %v", requested, allowed, claims.Scope)
	}
	if got := strings.Fields(res.str("scope")); !slices.Equal(got, claims.Scope) {
		t.Fatalf("scope answered %v, token carries %v", got, claims.Scope)
	}
	// The user's current roles, a role with powers only through a scope
	// that carries it (issue 22: consent bounds roles).
	if wantRoles := account.RolesCarried(u.roles, claims.Scope); !slices.Equal(claims.Roles, wantRoles) && len(claims.Roles)+len(wantRoles) > 0 {
		t.Fatalf("INVARIANT 1: token with scope %v carries roles %v; the user has %v, of which the scope carries %v",
			claims.Scope, claims.Roles, u.roles, wantRoles)
	}
	if claims.Subject != u.id || claims.ClientID != c.id {
		t.Fatalf("token for sub %s client %s, want %s %s", claims.Subject, claims.ClientID, u.id, c.id)
	}
	wantJKT := ""
	if key != nil {
		wantJKT = key.Thumbprint(m.tb)
	}
	if claims.JKT != wantJKT {
		t.Fatalf("INVARIANT 3: token bound to %q, want %q", claims.JKT, wantJKT)
	}
	m.checkAudience(res.str("access_token"), claims, key, reach, len(resources)+len(heldResources) > 0)
}

// checkAudience checks invariant 6 on an issued token: its aud is the
// resources of reach that carry one of its scopes (all of reach, or the
// default resource for an unrestricted grant, when none does), with the
// UserInfo endpoint for openid; and each built-in API outside it refuses
// it.
func (m *model) checkAudience(access string, claims *token.AccessClaims, key *dpoptest.Key, reach []string, restricted bool) {
	t := m.t
	var want []string
	for _, r := range reach {
		if slices.ContainsFunc(claims.Scope, func(s string) bool { return !asScope(s) && m.carries(r, s) }) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		want = []string{m.srv.Issuer + "/api"}
		if restricted && len(reach) > 0 {
			want = slices.Clone(reach)
		}
	}
	if slices.Contains(claims.Scope, "openid") {
		want = append(want, m.srv.Issuer+"/oauth2/userinfo")
	}
	got := slices.Clone(claims.Audience)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("INVARIANT 6: token with scope %v for resources %v has aud %v, want %v", claims.Scope, reach, got, want)
	}
	for _, probe := range []struct{ aud, path string }{
		{m.srv.Issuer + "/api", "/api/v1/comments"},
		{webtest.AdminAudience(m.srv.Issuer), "/admin/v1/clients?limit=1"},
	} {
		if slices.Contains(claims.Audience, probe.aud) {
			continue
		}
		if res := m.call(http.MethodGet, probe.path, access, claims, key); res.status != http.StatusUnauthorized {
			t.Fatalf("INVARIANT 6: a token for %v was taken at %s: %d %s", claims.Audience, probe.path, res.status, res.raw)
		}
	}
}

// call sends a request to a protected route with access (and a proof by
// key when the token is bound to one).
func (m *model) call(method, path, access string, claims *token.AccessClaims, key *dpoptest.Key) response {
	req, _ := http.NewRequest(method, m.srv.URL+path, nil)
	scheme := "Bearer"
	if claims.JKT != "" && key != nil {
		scheme = "DPoP"
		u, _, _ := strings.Cut(m.srv.Issuer+path, "?")
		req.Header.Set("DPoP", key.Proof(m.tb, dpoptest.For(method, u).WithToken(access)))
	}
	req.Header.Set("Authorization", scheme+" "+access)
	res := m.send(req)
	if res.err != nil {
		m.t.Fatal(res.err)
	}
	m.no5xx(res)
	return res
}

// startFamily records the family a 200 answer started, if it did.
func (m *model) startFamily(res response, c *modelClient, u *modelUser, key *dpoptest.Key) *family {
	rt := res.str("refresh_token")
	if rt == "" {
		return nil
	}
	id, _, _ := strings.Cut(rt, ".")
	now := m.clk.Now()
	claims, _ := m.ver.VerifyAccess(res.str("access_token"))
	f := &family{id: id, client: c, user: u, held: claims.Scope, tokens: []string{rt}, born: now,
		rotatedAt: now.Add(-time.Hour), key: keyIfBound(c, key), lastAccess: res.str("access_token")}
	m.families = append(m.families, f)
	return f
}

func keyIfBound(c *modelClient, key *dpoptest.Key) *dpoptest.Key {
	if c.public {
		return key
	}
	return nil // RFC 9449 §5: a confidential client's family is not bound
}

// wantDenied checks that an access token is refused at the protected API
// (401 invalid_token), as a revoked one must be.
func (m *model) wantDenied(t *rapid.T, access string, key *dpoptest.Key, what string) {
	if access == "" {
		return
	}
	claims, err := m.ver.VerifyAccess(access)
	if err != nil {
		return // expired, say: denied anyway
	}
	// Revocations reach the API's in-memory deny list over pub/sub, a
	// moment after they are stored: the probe waits for it, boundedly.
	var res response
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, m.srv.URL+"/api/v1/me", nil)
		scheme := "Bearer"
		if claims.JKT != "" {
			if key == nil {
				return // the model no longer holds the key: nobody can use it
			}
			scheme = "DPoP"
			req.Header.Set("DPoP", key.Proof(m.tb, dpoptest.For("GET", m.srv.Issuer+"/api/v1/me").WithToken(access)))
		}
		req.Header.Set("Authorization", scheme+" "+access)
		if res = m.send(req); res.status == http.StatusUnauthorized || time.Now().After(deadline) {
			break
		}
	}
	if res.status != http.StatusUnauthorized {
		t.Fatalf("INVARIANT 2: %s is still accepted: %d %s", what, res.status, res.raw)
	}
	m.denied = append(m.denied, access)
}

// feedFollower is a resource server outside oauth2d that follows the
// revocation feed: it merges whatever it is told, as the protocol says.
type feedFollower struct {
	cursor  string
	jtis    map[string]bool
	cutoffs map[string]int64 // "<kind>:<id>" → the latest not_before (unix ms)
}

func (f *feedFollower) denies(c *token.AccessClaims) bool {
	iat := c.IssuedAt.UnixMilli()
	return f.jtis[c.JTI] || iat < f.cutoffs["sub:"+c.Subject] || iat < f.cutoffs["client:"+c.ClientID]
}

// followFeed reads the revocation feed as a resource server (webtest's
// service client) up to now: every access token revoked for certain it
// must refuse too (invariant 2 for resource servers outside oauth2d).
func (m *model) followFeed(t *rapid.T) {
	f := &m.follower
	if f.jtis == nil {
		f.jtis, f.cutoffs = map[string]bool{}, map[string]int64{}
	}
	for {
		q := url.Values{}
		if f.cursor != "" {
			q.Set("cursor", f.cursor)
		}
		req, _ := http.NewRequest(http.MethodGet, m.srv.URL+"/oauth2/revocation-feed?"+q.Encode(), nil)
		req.SetBasicAuth(webtest.ServiceID, webtest.ServiceSecret)
		res := m.send(req)
		if res.err != nil {
			t.Fatal(res.err)
		}
		m.no5xx(res)
		var ans struct {
			Cursor string `json:"cursor"`
			JTIs   []struct {
				JTI string `json:"jti"`
			} `json:"jtis"`
			Cutoffs []struct {
				Kind      string `json:"kind"`
				ID        string `json:"id"`
				NotBefore int64  `json:"not_before"`
			} `json:"cutoffs"`
		}
		if err := json.Unmarshal([]byte(res.raw), &ans); res.status != http.StatusOK || err != nil || ans.Cursor == "" {
			t.Fatalf("revocation feed: %d %s", res.status, res.raw)
		}
		for _, j := range ans.JTIs {
			f.jtis[j.JTI] = true
		}
		for _, c := range ans.Cutoffs {
			k := c.Kind + ":" + c.ID
			f.cutoffs[k] = max(f.cutoffs[k], c.NotBefore)
		}
		f.cursor = ans.Cursor
		if len(ans.JTIs) < storage.FeedBatch && len(ans.Cutoffs) < storage.FeedBatch {
			break
		}
	}
	for _, access := range m.denied {
		if claims, err := m.ver.VerifyAccess(access); err == nil && !f.denies(claims) {
			t.Fatalf("INVARIANT 2: a revoked access token (jti %s, sub %s) is not revoked by the feed", claims.JTI, claims.Subject)
		}
	}
}

func (m *model) no5xx(res response) {
	if res.status >= 500 {
		m.t.Fatalf("INVARIANT 5: %d %s", res.status, res.raw)
	}
}

// ---- HTTP ----

type response struct {
	status int
	body   map[string]any
	raw    string
	err    error
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

func (m *model) token(c *modelClient, f url.Values, key *dpoptest.Key) response {
	proof := ""
	if key != nil {
		proof = key.Proof(m.tb, dpoptest.For("POST", m.srv.Issuer+"/oauth2/token"))
	}
	res := m.tryToken(c, f, proof)
	if res.err != nil {
		m.t.Fatal(res.err)
	}
	m.no5xx(res)
	return res
}

func (m *model) tryToken(c *modelClient, f url.Values, proof string) response {
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+"/oauth2/token", strings.NewReader(""))
	if c.public {
		f.Set("client_id", c.id)
	} else {
		req.SetBasicAuth(c.id, c.secret)
	}
	req.Body = io.NopCloser(strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return m.send(req)
}

func (m *model) send(req *http.Request) response {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	out := response{status: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// The machine client the model administers the server with.
const (
	modelAdminID     = "model-admin"
	modelAdminSecret = "model-admin-secret-0123456789"
)

// adminAPI calls /admin/v1 with a client-credentials token of a machine
// client registered for the admin scope.
type adminAPI struct {
	srv     *webtest.Server
	clk     *clock
	mu      sync.Mutex
	token   string
	expires time.Time
}

func (a *adminAPI) do(t *rapid.T, method, path string, body any) (int, string) {
	a.mu.Lock()
	if a.token == "" || !a.clk.Now().Before(a.expires.Add(-time.Minute)) {
		res, err := a.srv.TryPostToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}},
			modelAdminID, modelAdminSecret)
		if err != nil || res.Status != 200 {
			a.mu.Unlock()
			t.Fatalf("admin token: %v %d %s", err, res.Status, res.Raw)
		}
		a.token, a.expires = res.Str("access_token"), a.clk.Now().Add(modelAccess)
	}
	a.mu.Unlock()
	a.mu.Lock()
	tok := a.token
	a.mu.Unlock()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("INVARIANT 5: admin %s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, string(raw)
}

// browser is a person's browser without JavaScript: a cookie jar, no
// automatic redirects.
type browser struct {
	m *model
	c *http.Client
}

type page struct {
	status int
	body   string
	header http.Header
	url    string
}

func (m *model) browserOf(u *modelUser) *browser {
	if u.browser == nil {
		jar, _ := cookiejar.New(nil)
		u.browser = &browser{m: m, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
	}
	return u.browser
}

func (b *browser) get(path string) *page { return b.do(http.MethodGet, path, nil) }
func (b *browser) post(path string, f url.Values) *page {
	return b.do(http.MethodPost, path, f)
}

func (b *browser) do(method, path string, f url.Values) *page {
	t := b.m.t
	u := path
	if !strings.HasPrefix(u, "http") {
		u = b.m.srv.URL + path
	}
	var body io.Reader
	if f != nil {
		body = strings.NewReader(f.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if f != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 500 {
		t.Fatalf("INVARIANT 5: %s %s: %d %.300s", method, path, res.StatusCode, raw)
	}
	return &page{status: res.StatusCode, body: string(raw), header: res.Header, url: u}
}

// follow follows redirects within the server; a redirect to the client
// is where it stops.
func (b *browser) follow(p *page) *page {
	for range 10 {
		loc := p.location()
		if loc == nil || !strings.HasPrefix(loc.String(), b.m.srv.URL) {
			return p
		}
		p = b.get(loc.String())
	}
	b.m.t.Fatalf("too many redirects, last %s", p.url)
	return nil
}

func (p *page) location() *url.URL {
	if p.status < 300 || p.status > 399 {
		return nil
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		return nil
	}
	base, _ := url.Parse(p.url)
	return base.ResolveReference(loc)
}

var hiddenInput = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
var nameAttr = regexp.MustCompile(`name="([^"]*)"`)
var valueAttr = regexp.MustCompile(`value="([^"]*)"`)

func (p *page) hidden(name string) string {
	for _, in := range hiddenInput.FindAllString(p.body, -1) {
		if n := nameAttr.FindStringSubmatch(in); n != nil && n[1] == name {
			if v := valueAttr.FindStringSubmatch(in); v != nil {
				return htmlUnescape(v[1])
			}
		}
	}
	return ""
}

// hiddenAll is every value of the hidden inputs named name.
func (p *page) hiddenAll(name string) []string {
	var out []string
	for _, in := range hiddenInput.FindAllString(p.body, -1) {
		if n := nameAttr.FindStringSubmatch(in); n != nil && n[1] == name {
			if v := valueAttr.FindStringSubmatch(in); v != nil {
				out = append(out, htmlUnescape(v[1]))
			}
		}
	}
	return out
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#61;", "=", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'").Replace(s)
}

// ---- small helpers ----

func subset(want, have []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

func without[T comparable](s []T, drop ...T) []T {
	return slices.DeleteFunc(slices.Clone(s), func(x T) bool { return slices.Contains(drop, x) })
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
