package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/account"
)

// deviceCode is a device authorization (RFC 8628) the model saw
// approved and not yet polled for tokens.
type deviceCode struct {
	value      string
	client     *modelClient
	generation string // the client's registration when it was approved
	user       *modelUser
	scope      []string // what the approval holds
	resources  []string
}

// modelDevices holds each model's approved device codes that wait for
// their poll (model has no field for them: its other operations do not
// know of devices).
var modelDevices sync.Map // *model → *[]*deviceCode

func (m *model) waitingDevices() *[]*deviceCode {
	v, _ := modelDevices.LoadOrStore(m, &[]*deviceCode{})
	return v.(*[]*deviceCode)
}

// deviceFlow is the device authorization grant: a device asks, the
// person answers on the /device pages (sign in, code, confirmation, the
// consent page when one is due) and the device polls. What the poll gets
// is judged as codeFlow's redemption is: within the request, the policy,
// a remembered consent when nobody was asked; the family it starts joins
// the model's, so the refresh operations use it. The poll may be left
// for a later deviceFlow, so that a deleted user or a recreated client
// comes between the approval and the poll: neither may get a token.
func (m *model) deviceFlow(t *rapid.T) {
	waiting := m.waitingDevices()
	if len(*waiting) > 0 && rapid.Bool().Draw(t, "poll a waiting device") {
		i := rapid.IntRange(0, len(*waiting)-1).Draw(t, "device")
		dc := (*waiting)[i]
		*waiting = slices.Delete(*waiting, i, i+1)
		m.pollDevice(t, dc)
		return
	}
	c := m.drawClient(t, "client", m.deviceClients(t))
	u := m.pickUser(t)
	scope := drawScope(t, "scope", c.scopes)
	decision := rapid.SampledFrom([]string{"allow", "deny"}).Draw(t, "decision")
	remember := rapid.Bool().Draw(t, "remember")
	resources := m.drawResources(t, "resources")
	f := url.Values{"resource": resources}
	if scope != nil {
		f.Set("scope", strings.Join(scope, " "))
	}
	da := m.deviceAuthorize(c, f)
	if da.status != http.StatusOK {
		if subset(scope, c.scopes) && m.resourcesOK(resources, nil, scope) && da.status != http.StatusTooManyRequests {
			t.Fatalf("device authorization within the registration refused: %d %s", da.status, da.raw)
		}
		return
	}
	if !subset(scope, c.scopes) {
		t.Fatalf("INVARIANT 1: a device authorization for %v beyond %s's registration %v", scope, c.key, c.scopes)
	}
	deviceCodeValue, userCode := da.str("device_code"), da.str("user_code")
	poll := url.Values{"grant_type": {account.GrantDeviceCode}, "device_code": {deviceCodeValue}}
	if res := m.token(c, cloneValues(poll), nil); res.str("error") != "authorization_pending" {
		t.Fatalf("poll before any answer: %d %s", res.status, res.raw)
	}
	if u.deleted {
		return // the login page refuses; the device keeps waiting
	}
	asked, done := m.answerDevice(t, u, userCode, decision, remember)
	allowed := m.allowed(c, u, c.scopes)
	want := scope
	if len(want) == 0 {
		want = allowed
	}
	if len(resources) > 0 {
		want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return !m.carriedBy(resources, s) })
	}
	denied := asked && decision == "deny" || !subset(scope, allowed)
	if denied != strings.Contains(done.body, `id="device-denied"`) || !denied && !strings.Contains(done.body, `id="device-approved"`) {
		t.Fatalf("device answered (asked %v, decision %s, scope %v allowed %v): %d %.300s", asked, decision, scope, allowed, done.status, done.body)
	}
	if denied {
		if res := m.token(c, cloneValues(poll), nil); res.str("error") != "access_denied" {
			t.Fatalf("poll after a denial: %d %s", res.status, res.raw)
		}
		return
	}
	if !asked && !c.first && !subset(want, m.consents[[2]string{u.key, c.key}]) {
		t.Fatalf("device approved for %v without asking; remembered consent %v", want, m.consents[[2]string{u.key, c.key}])
	}
	if !asked && c.public {
		t.Fatalf("INVARIANT: device approved for public client %s without the consent page", c.key)
	}
	if asked && remember {
		k := [2]string{u.key, c.key}
		if m.consents[k] == nil {
			m.consents[k] = []string{}
		}
		for _, s := range want {
			if !slices.Contains(m.consents[k], s) {
				m.consents[k] = append(m.consents[k], s)
			}
		}
	}
	reg, err := m.srv.Store.GetClient(context.Background(), c.id)
	if err != nil {
		t.Fatal(err)
	}
	dc := &deviceCode{value: deviceCodeValue, client: c, generation: reg.Generation, user: u, scope: want, resources: resources}
	if rapid.Bool().Draw(t, "poll later") {
		*waiting = append(*waiting, dc)
		return
	}
	m.pollDevice(t, dc)
}

// deviceClients are the model's clients that may use the device grant:
// the third-party and the public one, registered for it through the
// admin API the first time.
func (m *model) deviceClients(t *rapid.T) []*modelClient {
	var out []*modelClient
	for _, c := range m.clients {
		if c.key != "tp" && c.key != "pub" {
			continue
		}
		if !slices.Contains(c.grants, account.GrantDeviceCode) {
			grants := append(slices.Clone(c.grants), account.GrantDeviceCode)
			reg := account.ClientRegistration{ID: c.id, Public: c.public, FirstParty: c.first,
				RedirectURIs: []string{m.srv.RedirectURI}, GrantTypes: grants, Scopes: c.scopes}
			if st, body := m.admin.do(t, http.MethodPut, "/admin/v1/clients/"+c.id, reg); st != 200 {
				t.Fatalf("admin PUT client with the device grant: %d %s", st, body)
			}
			c.grants = grants
		}
		out = append(out, c)
	}
	return out
}

// answerDevice is the person's visit from u's browser: the link with the
// code, the login when needed, the confirmation, and the consent page
// when it is shown. It reports whether it was, and the last page.
func (m *model) answerDevice(t *rapid.T, u *modelUser, userCode, decision string, remember bool) (bool, *page) {
	b := m.browserOf(u)
	p := b.follow(b.get("/device?" + url.Values{"user_code": {userCode}}.Encode()))
	if strings.Contains(p.body, `name="password"`) {
		p = b.follow(b.post("/login", url.Values{"username": {u.username}, "password": {"model-password"},
			"csrf_token": {p.hidden("csrf_token")}, "device": {p.hidden("device")}}))
	}
	p = b.post("/device", url.Values{"user_code": {userCode}, "csrf_token": {p.hidden("csrf_token")}})
	if !strings.Contains(p.body, `name="confirm"`) {
		t.Fatalf("no confirmation page for a fresh code: %d %.300s", p.status, p.body)
	}
	p = b.follow(b.post("/device", url.Values{"user_code": {p.hidden("user_code")}, "confirm": {"yes"}, "csrf_token": {p.hidden("csrf_token")}}))
	if !strings.Contains(p.body, `name="decision"`) {
		return false, p
	}
	f := url.Values{"decision": {decision}, "csrf_token": {p.hidden("csrf_token")}, "req": {p.hidden("req")}, "remember": {"no"}}
	if remember {
		f["remember"] = []string{"no", "yes"}
	}
	return true, b.follow(b.post("/consent", f))
}

// pollDevice polls for an approved device code: another client first,
// which gets nothing and uses nothing up (DESIGN §9.4); then its own,
// which gets tokens unless its user was deleted or its client recreated
// since; then its own again, which gets nothing.
func (m *model) pollDevice(t *rapid.T, dc *deviceCode) {
	c := dc.client
	poll := url.Values{"grant_type": {account.GrantDeviceCode}, "device_code": {dc.value}}
	if rapid.Bool().Draw(t, "wrong client first") {
		by := m.drawClient(t, "wrong client", without(m.deviceClients(t), c))
		if res := m.token(by, cloneValues(poll), nil); res.status == 200 {
			t.Fatalf("INVARIANT 4: another client got a device code's tokens: %s", res.raw)
		}
	}
	reg, err := m.srv.Store.GetClient(context.Background(), c.id)
	if err != nil {
		t.Fatal(err)
	}
	recreated := reg.Generation != dc.generation
	res := m.token(c, cloneValues(poll), nil)
	if again := m.token(c, cloneValues(poll), nil); again.status == 200 {
		t.Fatalf("INVARIANT 4: a device code gave tokens twice: %s", again.raw)
	}
	if dc.user.deleted || recreated {
		if res.status == 200 {
			t.Fatalf("INVARIANT 2: a device code gave tokens after its user was deleted (%v) or its client recreated (%v): %s",
				dc.user.deleted, recreated, res.raw)
		}
		return
	}
	if res.status != 200 {
		// An approval that expired meanwhile (advance) is refused too.
		if res.str("error") == "expired_token" {
			return
		}
		t.Fatalf("the device's poll after approval was refused: %d %s", res.status, res.raw)
	}
	m.checkIssued(res, c, dc.user, dc.scope, nil, nil, nil, dc.resources)
	if idt := res.str("id_token"); idt != "" {
		m.idTokens = append(m.idTokens, idToken{raw: idt, client: c, user: dc.user})
	}
	if fam := m.startFamily(res, c, dc.user, nil); fam != nil {
		fam.resources = dc.resources
		fam.held = m.allowed(c, dc.user, dc.scope)
	}
}

// deviceAuthorize posts f to the device authorization endpoint as c.
func (m *model) deviceAuthorize(c *modelClient, f url.Values) response {
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+"/oauth2/device_authorization", nil)
	if c.public {
		f.Set("client_id", c.id)
	} else {
		req.SetBasicAuth(c.id, c.secret)
	}
	req.Body = io.NopCloser(strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res := m.send(req)
	if res.err != nil {
		m.t.Fatal(res.err)
	}
	m.no5xx(res)
	return res
}
