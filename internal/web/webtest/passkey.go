package webtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"regexp"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software WebAuthn authenticator (ES256, "none"
// attestation, discoverable credentials, user verification), for tests
// that drive passkeys without a browser. Its fields change what it
// answers, as a misbehaving or cloned authenticator would.
type Authenticator struct {
	// RPID and Origin are what it signs for: the issuer's host and origin.
	RPID, Origin string
	// BackupEligible marks new credentials as synced passkeys (BE, BS).
	BackupEligible bool

	mu    sync.Mutex
	creds []*softCredential
}

type softCredential struct {
	id, handle []byte
	key        *ecdsa.PrivateKey
	rpID       string
	count      uint32
	be         bool
}

// NewAuthenticator returns an authenticator for the server at issuer.
func NewAuthenticator(issuer string) *Authenticator {
	u, err := url.Parse(issuer)
	if err != nil {
		panic(err)
	}
	return &Authenticator{RPID: u.Hostname(), Origin: u.Scheme + "://" + u.Host}
}

var dataOptions = regexp.MustCompile(`data-options="([^"]*)"`)

// PasskeyOptions returns the ceremony options a page's passkey form
// carries (data-options), or "".
func (p *Page) PasskeyOptions() string {
	m := dataOptions.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type ceremonyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (a *Authenticator) clientData(kind, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": kind, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return cd
}

func authData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (c *softCredential) flags() byte {
	f := byte(flagUP | flagUV)
	if c.be {
		f |= flagBE | flagBS
	}
	return f
}

// Create answers a registration's options (PasskeyOptions of the
// security page) with a new credential, as the credential JSON the form
// posts.
func (a *Authenticator) Create(options string) (string, error) {
	var o ceremonyOptions
	if err := json.Unmarshal([]byte(options), &o); err != nil {
		return "", err
	}
	handle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	a.mu.Lock()
	c := &softCredential{id: id, handle: handle, key: key, rpID: a.RPID, be: a.BackupEligible}
	a.creds = append(a.creds, c)
	a.mu.Unlock()
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return "", err
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		return "", err
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(id)))
	attested = append(append(attested, id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{},
		"authData": authData(c.rpID, c.flags()|flagAT, 0, attested)})
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]any{"id": b64(id), "rawId": b64(id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att), "transports": []string{"internal"}}})
	return string(out), err
}

// Assertion is one answer to a sign-in ceremony.
type Assertion struct {
	// Counter is the signature counter to send; Get sets it to the
	// credential's next value.
	Counter uint32
	// RPID is the relying party id to sign for; Get sets the
	// authenticator's.
	RPID string
}

// Get answers a sign-in's options (PasskeyOptions of the login page)
// with the authenticator's newest credential, or the one allowed.
func (a *Authenticator) Get(options string) (string, error) {
	return a.GetWith(options, func(*Assertion) {})
}

// GetWith is Get with the answer changed by edit before it is signed.
func (a *Authenticator) GetWith(options string, edit func(*Assertion)) (string, error) {
	var o ceremonyOptions
	if err := json.Unmarshal([]byte(options), &o); err != nil {
		return "", err
	}
	a.mu.Lock()
	var c *softCredential
	for _, cand := range a.creds {
		if len(o.PublicKey.AllowCredentials) == 0 {
			c = cand
		}
		for _, allowed := range o.PublicKey.AllowCredentials {
			if allowed.ID == b64(cand.id) {
				c = cand
			}
		}
	}
	if c == nil {
		a.mu.Unlock()
		return "", errors.New("webtest: the authenticator has no credential for these options")
	}
	c.count++
	as := Assertion{Counter: c.count, RPID: c.rpID}
	a.mu.Unlock()
	edit(&as)
	ad := authData(as.RPID, c.flags(), as.Counter, nil)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]any{"id": b64(c.id), "rawId": b64(c.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(cd), "authenticatorData": b64(ad),
			"signature": b64(sig), "userHandle": b64(c.handle)}})
	return string(out), err
}

// AddPasskey registers a new passkey of a on the signed-in user's
// security page, named name, and returns the page the form led to.
func (b *Browser) AddPasskey(a *Authenticator, name string) *Page {
	b.t.Helper()
	page := b.Get("/account/security")
	options := page.PasskeyOptions()
	if options == "" {
		b.t.Fatalf("webtest: no passkey form on the security page: %d %s", page.Status, page.Body)
	}
	cred, err := a.Create(options)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Follow(b.Post("/account/passkeys/add", url.Values{"csrf_token": {page.Hidden("csrf_token")},
		"state": {page.Hidden("state")}, "credential": {cred}, "name": {name}}))
}

// SubmitPasskey posts credential (an assertion answering the login page
// p's options) with p's passkey form, and does not follow the answer.
func (b *Browser) SubmitPasskey(p *Page, credential string) *Page {
	b.t.Helper()
	f := url.Values{"csrf_token": {p.Hidden("csrf_token")}, "state": {p.Hidden("state")}, "credential": {credential}}
	if req := p.Hidden("req"); req != "" {
		f.Set("req", req)
	}
	if device := p.Hidden("device"); device != "" {
		f.Set("device", device)
	}
	return b.Post("/login/passkey", f)
}

// SignInWithPasskey answers the login page p with a's passkey and follows
// the answer as SubmitLogin does.
func (b *Browser) SignInWithPasskey(p *Page, a *Authenticator) *Page {
	b.t.Helper()
	cred, err := a.Get(p.PasskeyOptions())
	if err != nil {
		b.t.Fatalf("webtest: %v (page %d %s)", err, p.Status, p.Body)
	}
	return b.Follow(b.SubmitPasskey(p, cred))
}

// SubmitSecondFactorPasskey posts credential (an assertion answering the
// second-factor page p's passkey options) with p's passkey form, and
// does not follow the answer.
func (b *Browser) SubmitSecondFactorPasskey(p *Page, credential string) *Page {
	b.t.Helper()
	f := url.Values{"csrf_token": {p.Hidden("csrf_token")}, "state": {p.Hidden("state")}, "credential": {credential}}
	if req := p.Hidden("req"); req != "" {
		f.Set("req", req)
	}
	return b.Post("/login/second-factor/passkey", f)
}
