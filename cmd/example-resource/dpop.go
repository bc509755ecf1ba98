package main

import (
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// proofAlgorithms are the DPoP proof algorithms accepted: asymmetric only
// (RFC 9449 §4.2), as oauth2d advertises in dpop_signing_alg_values_supported.
var proofAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.PS256, jose.RS256, jose.EdDSA}

// proofMaxAge is how old a proof may be; its jti is remembered that long.
const proofMaxAge = time.Minute

// ProofChecker checks the DPoP proof that comes with a DPoP-bound access
// token (RFC 9449 §4.3, §7.1). Its replay memory is in this process: with
// several instances, keep the jtis in a store they share (oauth2d uses
// Redis SET NX with a TTL).
type ProofChecker struct {
	// BaseURL is this service's public URL; a proof's htu must be BaseURL
	// and the request path.
	BaseURL string
	Now     func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // jkt + jti -> when it may be forgotten
}

// Check verifies r's one DPoP proof for accessToken, bound to the key
// whose RFC 7638 thumbprint is jkt.
func (p *ProofChecker) Check(r *http.Request, accessToken, jkt string) error {
	values := r.Header.Values("DPoP")
	if len(values) != 1 {
		return errors.New("want exactly one DPoP header")
	}
	jws, err := jose.ParseSignedCompact(values[0], proofAlgorithms)
	if err != nil {
		return err
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "dpop+jwt") {
		return fmt.Errorf("typ %q is not dpop+jwt", typ)
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		return errors.New("no public jwk in the header") // go-jose refuses private ones too
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return err
	}
	var c struct {
		JTI string `json:"jti"`
		HTM string `json:"htm"`
		HTU string `json:"htu"`
		IAT int64  `json:"iat"`
		ATH string `json:"ath"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" || len(c.JTI) > 256 {
		return errors.New("bad claims")
	}
	// Exact match: send htu exactly as BaseURL + path, or normalise both
	// sides (RFC 9449 §4.3 step 9) as oauth2d does.
	if c.HTM != r.Method || c.HTU != strings.TrimSuffix(p.BaseURL, "/")+r.URL.Path {
		return errors.New("htm or htu do not name this request")
	}
	now := p.Now()
	iat := time.Unix(c.IAT, 0)
	if iat.Before(now.Add(-proofMaxAge)) || iat.After(now.Add(5*time.Second)) {
		return errors.New("iat outside the window")
	}
	sum := sha256.Sum256([]byte(accessToken))
	if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
		return errors.New("ath is not the token's hash")
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil || base64.RawURLEncoding.EncodeToString(tp) != jkt {
		return errors.New("the proof's key is not the token's cnf.jkt")
	}
	return p.firstUse(jkt+" "+c.JTI, iat.Add(proofMaxAge), now)
}

func (p *ProofChecker) firstUse(id string, until, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]time.Time{}
	}
	for k, exp := range p.seen { // a production service would expire entries in its store
		if now.After(exp) {
			delete(p.seen, k)
		}
	}
	if _, ok := p.seen[id]; ok {
		return errors.New("jti already used")
	}
	p.seen[id] = until
	return nil
}
