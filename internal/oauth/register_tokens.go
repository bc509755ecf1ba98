package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The credentials of dynamic client registration: the initial access
// token a registration may need (RFC 7591 §3), and the registration
// access token and client secret a registration gets (RFC 7592 §3).

// checkPresentedSecret: an update that sends the client's secret must
// send the current one (RFC 7592 §2.2).
func checkPresentedSecret(cl *storage.Client, presented string) *Error {
	if cl.SecretHash == "" || len(presented) > maxClientSecretLen {
		return errRegistrationRefused.WithDescription("client_secret does not match")
	}
	ok, err := secret.Verify(cl.SecretHash, presented)
	if err != nil {
		return ErrServerError.Wrap(err)
	}
	if !ok {
		return errRegistrationRefused.WithDescription("client_secret does not match")
	}
	return nil
}

// credentials sets a new client's registration access token and, if it
// is confidential, its secret (hashes only on the record), and returns
// both in clear, for this answer alone.
func (g *Registrar) credentials(cl *storage.Client) (token, clear string, e *Error) {
	token = secret.NewToken(registrationTokenBytes)
	cl.RegistrationTokenHash = secret.SHA256(token)
	if cl.Public || cl.AuthMethod() == authMethodPrivateKeyJWT {
		return token, "", nil // no secret: none, or keys (RFC 7523)
	}
	clear = secret.NewToken(32)
	hash, err := g.d.Hasher.Hash(clear)
	if err != nil {
		return "", "", ErrServerError.Wrap(err)
	}
	cl.SecretHash = hash
	return token, clear, nil
}

// checkInitialAccessToken: in initial_access_token mode the request must
// carry one of the configured tokens as Bearer (RFC 7591 §3). Every
// digest is compared, in constant time.
func (g *Registrar) checkInitialAccessToken(r *http.Request) *Error {
	if g.d.Config.Mode != config.RegistrationIAT {
		return nil
	}
	token, ok := bearerToken(r)
	if !ok {
		return errBadRegistrationToken
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, h := range g.iatHashes {
		match |= subtle.ConstantTimeCompare(sum[:], h)
	}
	if match != 1 {
		return errBadRegistrationToken
	}
	return nil
}

// authorized is the registration the request's registration access token
// is for (RFC 7592 §3): the token must be the one issued to the client
// the path names. Unknown clients, foreign tokens and clients an operator
// made (no token) are answered alike.
func (g *Registrar) authorized(c *gin.Context) (*storage.Client, *Error) {
	token, ok := bearerToken(c.Request)
	if !ok {
		return nil, errBadRegistrationToken
	}
	id := c.Param("client_id")
	if len(id) > maxClientIDLen {
		return nil, errBadRegistrationToken
	}
	cl, err := g.d.Store.GetClient(c.Request.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errBadRegistrationToken
	}
	if err != nil {
		return nil, asError(err)
	}
	sum := secret.SHA256(token)
	if !cl.SelfRegistered || cl.RegistrationTokenHash == "" ||
		subtle.ConstantTimeCompare([]byte(sum), []byte(cl.RegistrationTokenHash)) != 1 {
		return nil, errBadRegistrationToken
	}
	return cl, nil
}

// maxBearerLen bounds a registration or initial access token before it
// is hashed; ours are 43 characters.
const maxBearerLen = 512

// bearerToken reads "Authorization: Bearer <token>" (RFC 6750 §2.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxBearerLen {
		return "", false
	}
	return token, true
}
