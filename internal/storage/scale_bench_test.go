package storage_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// Scale evidence (issue 8): rotation throughput and Redis memory with many
// live refresh families, filled through the storage layer. Each benchmark
// runs on a redis-server of its own, so used_memory is the store's alone.
// Compare two sizes:
//
//	go test -run '^$' -bench 'AtScale' -benchtime 20000x ./internal/storage/ -families 10000
//	go test -run '^$' -bench 'AtScale' -benchtime 20000x ./internal/storage/ -families 1000000
var scaleFamilies = flag.Int("families", 10000, "live refresh families in Redis for BenchmarkRotateAtScale")

func scaleStore(b *testing.B) (*storage.Store, redis.UniversalClient) {
	srv := testredis.NewPrivate(b)
	s, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: "oauth2d:"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, srv.Client(b)
}

func usedMemory(b *testing.B, rdb redis.UniversalClient) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}

// fill runs n calls of one over 16 goroutines and returns the growth of
// Redis's used_memory per call.
func fill(b *testing.B, rdb redis.UniversalClient, n int, one func(i int) error) float64 {
	before := usedMemory(b, rdb)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := one(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return float64(usedMemory(b, rdb)-before) / float64(n)
}

// scaleFamily is one family as the password grant makes it: a user among
// 1000, a first-party client, its first token.
func scaleFamily(i int) (storage.NewRefresh, string) {
	now := time.Now()
	h := secret.SHA256(secret.NewToken(32))
	return storage.NewRefresh{Family: storage.RefreshFamily{
		ID: secret.NewToken(16), ClientID: "demo-first-party", UserID: "user-" + strconv.Itoa(i%1000),
		Scope: []string{"openid", "profile", "offline_access", "comments:read"}, AuthTime: now, CreatedAt: now,
		ExpiresAt: now.Add(90 * 24 * time.Hour), AccessJTI: secret.NewToken(16), AccessExpiresAt: now.Add(15 * time.Minute),
	}, TokenHash: h, Sliding: 14 * 24 * time.Hour}, h
}

// BenchmarkRotateAtScale fills -families families, reports Redis bytes per
// family (after one rotation each of a sample, as a family in use has a
// previous token and a sealed successor), then measures rotations of
// random families.
func BenchmarkRotateAtScale(b *testing.B) {
	s, rdb := scaleStore(b)
	ctx := context.Background()
	n := *scaleFamilies
	ids, cur := make([]string, n), make([]string, n)
	perFamily := fill(b, rdb, n, func(i int) error {
		nr, h := scaleFamily(i)
		ids[i], cur[i] = nr.Family.ID, h
		return s.CreateFamily(ctx, nr)
	})
	successor := make([]byte, 120) // about a sealed refresh token
	var locks [256]sync.Mutex      // two goroutines may pick one family: one at a time
	rotateOne := func(i int, grace time.Duration) error {
		mu := &locks[i%len(locks)]
		mu.Lock()
		defer mu.Unlock()
		presented := cur[i]
		next := secret.SHA256(secret.NewToken(32))
		cur[i] = next
		_, err := s.Rotate(ctx, storage.Rotation{FamilyID: ids[i], PresentedHash: presented, NewHash: next,
			ClientID: "demo-first-party", Successor: successor, AccessJTI: secret.NewToken(16),
			AccessExpiresAt: time.Now().Add(15 * time.Minute), Now: time.Now(), Sliding: 14 * 24 * time.Hour,
			Grace: grace})
		if err != nil {
			return fmt.Errorf("rotate %s: %w", ids[i], err)
		}
		return nil
	}
	// A family in use has been rotated: it has a previous token and the
	// set of used hashes. Its sealed successor lives twice the grace
	// window; the sample uses a short window and waits it out.
	sample := min(n, 10000)
	before := usedMemory(b, rdb)
	fill(b, rdb, sample, func(i int) error { return rotateOne(i, 250*time.Millisecond) })
	time.Sleep(time.Second)
	perRotation := float64(usedMemory(b, rdb)-before) / float64(sample)
	b.ResetTimer() // (it also drops metrics: they are reported after the loop)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			if err := rotateOne(r.IntN(n), 30*time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(perFamily, "B/family")
	b.ReportMetric(perFamily+perRotation, "B/family-in-use")
	b.ReportMetric(float64(n), "families")
}

// BenchmarkRecordMemory reports Redis bytes per anonymous browser session
// (the login form's CSRF state), per pending authorization request and
// per remembered consent.
func BenchmarkRecordMemory(b *testing.B) {
	s, rdb := scaleStore(b)
	ctx := context.Background()
	const n = 20000
	now := time.Now()
	session := fill(b, rdb, n, func(int) error {
		return s.SaveSession(ctx, secret.SHA256(secret.NewToken(32)), &storage.BrowserSession{
			CSRFToken: secret.NewToken(32), CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(12 * time.Hour)}, time.Hour)
	})
	maxAge := 3600
	authReq := fill(b, rdb, n, func(int) error {
		return s.SaveAuthRequest(ctx, &storage.AuthRequest{ID: secret.NewToken(16), ClientID: "demo-web",
			RedirectURI: "https://app.example.com/callback", RequestedScope: []string{"openid", "profile", "offline_access"},
			State: secret.NewToken(16), Nonce: secret.NewToken(16), CodeChallenge: secret.NewToken(32),
			CodeChallengeMethod: "S256", MaxAge: &maxAge, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	})
	consent := fill(b, rdb, n, func(i int) error {
		return s.SaveConsent(ctx, &storage.Consent{UserID: "user-" + strconv.Itoa(i), ClientID: "demo-web",
			Scope: []string{"openid", "profile", "comments:read"}, GrantedAt: now})
	})
	for b.Loop() {
		// The figures are the metrics below; the loop only satisfies -bench.
	}
	b.ReportMetric(session, "B/session")
	b.ReportMetric(authReq, "B/authreq")
	b.ReportMetric(consent, "B/consent")
}
