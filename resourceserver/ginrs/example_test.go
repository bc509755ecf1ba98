package ginrs_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/resourceserver"
	"github.com/oauth2d/oauth2d/resourceserver/ginrs"
)

// oneToken is a Verifier that knows one token (a JWKSVerifier in real use).
type oneToken struct{}

func (oneToken) VerifyAccess(raw string) (*resourceserver.Claims, error) {
	if raw != "reader" {
		return nil, resourceserver.ErrInvalidToken
	}
	now := time.Now()
	return &resourceserver.Claims{Subject: "alice", ClientID: "web", JTI: "1", Scope: []string{"notes:read"},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}

// The same checks and answers as the net/http middleware, on a gin route.
func ExampleRequire() {
	gin.SetMode(gin.ReleaseMode)
	rs, _ := resourceserver.New(resourceserver.Config{Realm: "https://auth.example.com", Verifier: oneToken{}})
	r := gin.New()
	r.GET("/notes", ginrs.Require(rs, resourceserver.Scopes("notes:read")), func(c *gin.Context) {
		claims, _ := ginrs.ClaimsFrom(c)
		c.String(http.StatusOK, "notes of %s", claims.Subject)
	})
	for _, token := range []string{"reader", "forged"} {
		req := httptest.NewRequest(http.MethodGet, "/notes", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	// Output:
	// 200  notes of alice
	// 401 Bearer realm="https://auth.example.com", error="invalid_token", error_description="the access token is invalid or expired" {"error":"invalid_token","error_description":"the access token is invalid or expired"}
}
