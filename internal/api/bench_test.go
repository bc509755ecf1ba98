package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// BenchmarkProtectedAPI compares one handler behind RequireScopes (valid
// token, warm cache) with the same handler behind a stub that only puts
// the claims in the context. The two are interleaved request by request,
// so load from elsewhere on the machine hits both alike; the metrics are
// requests per second of each and their ratio.
//
//   - comments: GET /api/v1/comments?limit=20, a Redis round trip per
//     request (what a real protected endpoint costs);
//   - echo: a handler that only writes two claims as JSON, the worst case
//     for the middleware's relative cost.
func BenchmarkProtectedAPI(b *testing.B) {
	h := resourcetest.New(b, token.AlgES256)
	comments, err := api.New(api.Deps{Bearer: h.Auth, Revoker: h.Revoker, Comments: h.Store, Users: h.Store})
	if err != nil {
		b.Fatal(err)
	}
	raw, claims := h.Mint(b, token.AccessRequest{
		Subject: "user-1", ClientID: "web", Scope: []string{"comments:read", "comments:write"}, Lifetime: time.Hour,
	})
	for i := range 20 {
		if err := h.Store.CreateComment(h.Ctx, &storage.Comment{UserID: "user-1", Message: fmt.Sprint("comment ", i)}); err != nil {
			b.Fatal(err)
		}
	}
	stub := func(c *gin.Context) { resource.WithClaims(c, &claims); c.Next() }
	echo := func(c *gin.Context) {
		cl, _ := resource.ClaimsFrom(c)
		c.JSON(http.StatusOK, gin.H{"sub": cl.Subject, "client_id": cl.ClientID})
	}
	for _, bc := range []struct {
		name    string
		path    string
		handler gin.HandlerFunc
	}{
		{"comments", "/api/v1/comments?limit=20", comments.ListComments},
		{"echo", "/echo", echo},
	} {
		b.Run(bc.name, func(b *testing.B) {
			withAuth, bare := gin.New(), gin.New()
			path := bc.path
			if i := len("/api/v1/comments"); len(path) > i && path[i] == '?' {
				path = path[:i]
			}
			withAuth.GET(path, h.Auth.RequireScopes(api.ScopeCommentsRead), bc.handler)
			bare.GET(path, stub, bc.handler)
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.Header.Set("Authorization", "Bearer "+raw)
			serve := func(h http.Handler) time.Duration {
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, req)
				d := time.Since(start)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				return d
			}
			serve(withAuth) // warm the cache
			var tAuth, tBare time.Duration
			b.ResetTimer()
			for range b.N {
				tAuth += serve(withAuth)
				tBare += serve(bare)
			}
			rpsAuth := float64(b.N) / tAuth.Seconds()
			rpsBare := float64(b.N) / tBare.Seconds()
			b.ReportMetric(rpsAuth, "req/s-auth")
			b.ReportMetric(rpsBare, "req/s-bare")
			b.ReportMetric(100*rpsAuth/rpsBare, "%-of-bare")
		})
	}
}
