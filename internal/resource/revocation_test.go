package resource_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// TestRevocationReachesSecondInstance: two instances on one Redis; a
// revocation made on one is honoured by the other, although the other has
// the token's verification cached and its hourly resync is far off: pub/sub
// carried it.
func TestRevocationReachesSecondInstance(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256, resourcetest.WithResync(time.Hour))
	second := h.NewInstance(t, resourcetest.WithResync(time.Hour))
	tests := []struct {
		name   string
		user   *storage.User
		revoke func(t *testing.T, bearer string)
	}{
		{"logout", h.Alice, func(t *testing.T, bearer string) {
			if resp := h.Do(t, http.MethodPost, resourcetest.LogoutPath, bearer, nil); resp.Code != 204 {
				t.Fatalf("logout: %d", resp.Code)
			}
		}},
		{"admin revokes the user", h.Bob, func(t *testing.T, bearer string) {
			if _, _, err := h.Revoker.RevokeUser(h.Ctx, h.Bob.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := h.UserToken(t, tc.user, resourcetest.AllScopes...)
			for _, in := range []*resourcetest.Instance{h.Instance, second} {
				if resp := in.Do(t, http.MethodGet, resourcetest.CommentsPath, raw, nil); resp.Code != 200 {
					t.Fatalf("before: %d", resp.Code)
				}
			}
			tc.revoke(t, raw)
			took := second.WaitStatus(t, resourcetest.CommentsPath, raw, 401)
			t.Logf("second instance refused the token %v after the revocation", took)
		})
	}
}

// TestResyncAfterReconnect kills the subscription connections on the
// Redis server (every node of a Cluster): revocations stored while they
// were down (here: stored without any message, as if the message had been
// lost) are picked up by the resync after go-redis reconnects, and
// messages flow again.
func TestResyncAfterReconnect(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256, resourcetest.WithResync(time.Hour)) // no periodic help
	switch h.Redis.Kind {
	case testredis.Process, testredis.Cluster3:
		// This test binary's own server or Cluster: cutting its pub/sub
		// connections disturbs nobody else.
	case testredis.External:
		t.Skip("decided: CLIENT KILL TYPE pubsub on an external Redis (" + testredis.EnvURL +
			") would cut the subscriptions of whoever else uses it; this test runs on the Redis testredis starts")
	default: // testredis.Embedded: miniredis cannot kill connections.
		t.Skipf("decided: the %s Redis cannot kill connections; this test runs on the Redis testredis starts", h.Redis.Kind)
	}
	rdb := h.Redis.Client(t)
	lostJTI, lostJTIClaims := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	lostCutoff, _ := h.UserToken(t, h.Bob, resourcetest.AllScopes...)
	later, laterClaims := h.UserToken(t, h.Admin, resourcetest.AllScopes...)
	for _, raw := range []string{lostJTI, lostCutoff, later} {
		if resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath, raw, nil); resp.Code != 200 {
			t.Fatalf("before: %d", resp.Code)
		}
	}

	// Stored, never published: only a resync can find these.
	p := h.Redis.Prefix
	must(t, rdb.ZAdd(h.Ctx, p+"revoked-jti", redis.Z{Score: float64(lostJTIClaims.ExpiresAt.UnixMilli()), Member: lostJTIClaims.JTI}).Err())
	nbf := time.Now().Add(time.Second).UnixMilli()
	must(t, rdb.HSet(h.Ctx, p+"{cutoffs}:nbf", storage.SubjectCutoff(h.Bob.ID), strconv.FormatInt(nbf, 10)).Err())
	must(t, rdb.ZAdd(h.Ctx, p+"{cutoffs}:until", redis.Z{Score: float64(nbf + time.Hour.Milliseconds()), Member: storage.SubjectCutoff(h.Bob.ID)}).Err())
	// Not synchronisation: a window in which a wrong path (a resync
	// without a reconnect) would have had its chance to show.
	time.Sleep(100 * time.Millisecond)
	for _, raw := range []string{lostJTI, lostCutoff} {
		if resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath, raw, nil); resp.Code != 200 {
			t.Fatalf("an unpublished revocation was seen without a resync: %d", resp.Code)
		}
	}

	if err := testredis.KillPubSub(h.Ctx, rdb); err != nil {
		t.Fatal(err)
	}
	took := h.WaitStatus(t, resourcetest.CommentsPath, lostJTI, 401)
	h.WaitStatus(t, resourcetest.CommentsPath, lostCutoff, 401)
	t.Logf("resync after reconnect took %v", took)

	// The new subscription delivers again.
	if err := h.Store.RevokeJTI(h.Ctx, laterClaims.JTI, laterClaims.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	second := h.WaitStatus(t, resourcetest.CommentsPath, later, 401)
	t.Logf("revocation after the reconnect seen in %v", second)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
