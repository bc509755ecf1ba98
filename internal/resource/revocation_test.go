package resource_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// family is a stored refresh-token family and the hash of its current
// token.
type family struct{ id, tokenHash string }

// newFamily stores a refresh-token family of user with client whose
// newest access token is a fresh one, and returns it with that token.
func (h *harness) newFamily(t *testing.T, u *storage.User, clientID string) (family, string) {
	t.Helper()
	access, claims := h.mint(token.AccessRequest{Subject: u.ID, ClientID: clientID, Scope: allScopes, Roles: u.Roles, Lifetime: tokenTTL})
	f := family{id: secret.NewToken(12), tokenHash: secret.SHA256(secret.NewToken(32))}
	err := h.Store.CreateFamily(h.ctx, storage.NewRefresh{
		Family: storage.RefreshFamily{ID: f.id, ClientID: clientID, UserID: u.ID, Scope: allScopes,
			ExpiresAt: time.Now().Add(time.Hour), AccessJTI: claims.JTI, AccessExpiresAt: claims.ExpiresAt},
		TokenHash: f.tokenHash,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, access
}

func TestLogoutEverywhere(t *testing.T) {
	h := newHarness(t, token.AlgES256)
	presented, _ := h.userToken(h.alice, allScopes...)
	webFamily, webAccess := h.newFamily(t, h.alice, webClient)
	otherFamily, otherAccess := h.newFamily(t, h.alice, "other-app")
	_, bobAccess := h.newFamily(t, h.bob, webClient)

	if resp := h.do(t, http.MethodPost, "/api/v1/logout", presented, nil); resp.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.Code, resp.Body)
	}
	tests := []struct {
		name   string
		bearer string
		status int
	}{
		{"the presented token", presented, 401},
		{"the access token of alice's web session", webAccess, 401},
		{"alice's session with another client", otherAccess, 200},
		{"bob's session", bobAccess, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if resp := h.do(t, http.MethodGet, commentsPath, tc.bearer, nil); resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
		})
	}
	if _, err := h.Store.CheckRefresh(h.ctx, webFamily.id, webFamily.tokenHash); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("the logged-out client's family: %v, want storage.ErrRevoked", err)
	}
	if _, err := h.Store.CheckRefresh(h.ctx, otherFamily.id, otherFamily.tokenHash); err != nil {
		t.Errorf("the other client's family: %v, want it untouched", err)
	}
	t.Run("client credentials token", func(t *testing.T) {
		service := h.clientToken("comments:read")
		if resp := h.do(t, http.MethodPost, "/api/v1/logout", service, nil); resp.Code != http.StatusNoContent {
			t.Fatalf("logout: %d", resp.Code)
		}
		if resp := h.do(t, http.MethodGet, commentsPath, service, nil); resp.Code != 401 {
			t.Fatalf("after logout: %d, want 401", resp.Code)
		}
	})
}

// TestRevocationReachesSecondInstance: two instances on one Redis; a
// revocation made on one is honoured by the other within a second,
// although the other has the token's verification cached.
func TestRevocationReachesSecondInstance(t *testing.T) {
	h := newHarness(t, token.AlgES256, withResync(time.Hour))
	second := h.newInstance(withResync(time.Hour))
	tests := []struct {
		name   string
		user   *storage.User
		revoke func(t *testing.T, bearer string)
	}{
		{"logout", h.alice, func(t *testing.T, bearer string) {
			if resp := h.do(t, http.MethodPost, "/api/v1/logout", bearer, nil); resp.Code != 204 {
				t.Fatalf("logout: %d", resp.Code)
			}
		}},
		{"admin revokes the user", h.bob, func(t *testing.T, bearer string) {
			if _, _, err := h.Revoker.RevokeUser(h.ctx, h.bob.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := h.userToken(tc.user, allScopes...)
			for _, in := range []*instance{h.instance, second} {
				if resp := in.do(t, http.MethodGet, commentsPath, raw, nil); resp.Code != 200 {
					t.Fatalf("before: %d", resp.Code)
				}
			}
			tc.revoke(t, raw)
			took := second.waitStatus(t, commentsPath, raw, 401, time.Second)
			t.Logf("second instance refused the token %v after the revocation", took)
		})
	}
}

// TestResyncAfterReconnect kills the subscription connections on the
// Redis server: revocations stored while they were down (here: stored
// without any message, as if the message had been lost) are picked up by
// the resync after go-redis reconnects, and messages flow again.
func TestResyncAfterReconnect(t *testing.T) {
	h := newHarness(t, token.AlgES256, withResync(time.Hour)) // no periodic help
	if h.rs.Kind != testredis.Process {
		// CLIENT KILL TYPE pubsub would cut other users of a shared server.
		t.Skipf("needs a redis-server of this test binary, have %s", h.rs.Kind)
	}
	rdb := h.rs.Client(t)
	lostJTI, lostJTIClaims := h.userToken(h.alice, allScopes...)
	lostCutoff, _ := h.userToken(h.bob, allScopes...)
	later, laterClaims := h.userToken(h.admin, allScopes...)
	for _, raw := range []string{lostJTI, lostCutoff, later} {
		if resp := h.do(t, http.MethodGet, commentsPath, raw, nil); resp.Code != 200 {
			t.Fatalf("before: %d", resp.Code)
		}
	}

	// Stored, never published: only a resync can find these.
	p := h.rs.Prefix
	must(t, rdb.ZAdd(h.ctx, p+"revoked-jti", redis.Z{Score: float64(lostJTIClaims.ExpiresAt.UnixMilli()), Member: lostJTIClaims.JTI}).Err())
	nbf := time.Now().Add(time.Second).UnixMilli()
	must(t, rdb.HSet(h.ctx, p+"{cutoffs}:nbf", storage.SubjectCutoff(h.bob.ID), strconv.FormatInt(nbf, 10)).Err())
	must(t, rdb.ZAdd(h.ctx, p+"{cutoffs}:until", redis.Z{Score: float64(nbf + time.Hour.Milliseconds()), Member: storage.SubjectCutoff(h.bob.ID)}).Err())
	time.Sleep(100 * time.Millisecond)
	for _, raw := range []string{lostJTI, lostCutoff} {
		if resp := h.do(t, http.MethodGet, commentsPath, raw, nil); resp.Code != 200 {
			t.Fatalf("an unpublished revocation was seen without a resync: %d", resp.Code)
		}
	}

	killed, err := rdb.ClientKillByFilter(h.ctx, "TYPE", "pubsub").Result()
	if err != nil || killed < 2 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d killed, %v; want both subscriptions", killed, err)
	}
	took := h.waitStatus(t, commentsPath, lostJTI, 401, 5*time.Second)
	h.waitStatus(t, commentsPath, lostCutoff, 401, time.Second)
	t.Logf("resync after reconnect took %v", took)

	// The new subscription delivers again.
	if err := h.Store.RevokeJTI(h.ctx, laterClaims.JTI, laterClaims.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	second := h.waitStatus(t, commentsPath, later, 401, time.Second)
	t.Logf("revocation after the reconnect seen in %v", second)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
