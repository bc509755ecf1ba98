package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// testProofReplay: a DPoP proof is accepted once, by exactly one of many
// racing callers, is forgotten when its TTL ends, and leaves one key of
// bounded size under the prefix whatever the client put in its jti.
func testProofReplay(t *testing.T, newStore NewStore) {
	t.Run("once across racing callers", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		id := "thumbprint " + newID()
		wins := raceWins(t, 32, func() (bool, error) { return s.RecordProof(ctx, id, time.Minute) })
		if wins != 1 {
			t.Fatalf("%d callers saw the proof as new, want exactly 1", wins)
		}
		if first, err := s.RecordProof(ctx, "thumbprint "+newID(), time.Minute); err != nil || !first {
			t.Fatalf("another proof: %v, %v", first, err)
		}
	})
	t.Run("forgotten after its ttl", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		id := "k " + newID()
		if first, err := s.RecordProof(ctx, id, 200*time.Millisecond); err != nil || !first {
			t.Fatalf("RecordProof = %v, %v", first, err)
		}
		if first, _ := s.RecordProof(ctx, id, 200*time.Millisecond); first {
			t.Fatal("replay accepted inside the ttl")
		}
		if !eventually(func() bool { first, _ := s.RecordProof(ctx, id, time.Minute); return first }) {
			t.Fatal("the proof was never forgotten")
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for _, ttl := range []time.Duration{0, -time.Second, storage.MaxProofTTL + time.Second} {
			if _, err := s.RecordProof(ctx, "x", ttl); err == nil {
				t.Errorf("ttl %v accepted", ttl)
			}
		}
		if _, err := s.RecordProof(ctx, "", time.Second); err == nil {
			t.Error("empty id accepted")
		}
	})
	t.Run("hashed key with a ttl", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		rb := redisOf(t, s)
		long := string(make([]byte, 4096)) + "{tag}"
		if _, err := s.RecordProof(ctx, long, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		keys := keysUnder(t, ctx, s)
		if len(keys) != 1 || keys[0] != rb.Prefix()+"dpop-jti:"+secret.SHA256(long) {
			t.Fatalf("keys = %q; want one key named by the id's SHA-256", keys)
		}
		if ttl := rb.Redis().PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 30*time.Second {
			t.Fatalf("ttl %v, want (0, 30s]", ttl)
		}
	})
}

// testBoundFamily: a family bound to a DPoP key rotates only for that key
// (RFC 9449 §5); another key or none changes nothing, not even reuse
// detection, and the successor stays bound.
func testBoundFamily(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	now := time.Now()
	f := storage.RefreshFamily{
		ID: newID(), ClientID: "spa", UserID: "u1", Scope: []string{"offline_access"},
		AuthTime: ms(now), CreatedAt: ms(now), ExpiresAt: ms(now.Add(time.Hour)), JKT: "key-a",
	}
	cur := newHash()
	if err := s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: cur, Sliding: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, jkt := range []string{"", "key-b"} {
		r := rotation(f.ID, cur, 0)
		r.JKT = jkt
		if _, err := s.Rotate(ctx, r); !errors.Is(err, storage.ErrProofKeyMismatch) {
			t.Fatalf("rotation with key %q = %v, want ErrProofKeyMismatch", jkt, err)
		}
	}
	wantCheck(t, s, f.ID, cur, nil) // untouched
	r := rotation(f.ID, cur, 0)
	r.JKT = "key-a"
	res, err := s.Rotate(ctx, r)
	if err != nil || res.Family.JKT != "key-a" {
		t.Fatalf("rotation with the bound key = %+v, %v", res, err)
	}
	// The successor is bound too; the rotated-out token, replayed without
	// the key, neither works nor revokes the family.
	next := rotation(f.ID, r.NewHash, 0)
	if _, err := s.Rotate(ctx, next); !errors.Is(err, storage.ErrProofKeyMismatch) {
		t.Fatalf("successor without the key = %v", err)
	}
	old := rotation(f.ID, cur, 0)
	if _, err := s.Rotate(ctx, old); !errors.Is(err, storage.ErrProofKeyMismatch) {
		t.Fatalf("old token without the key = %v", err)
	}
	wantCheck(t, s, f.ID, r.NewHash, nil)
	// An unbound family accepts any key (confidential clients, §5).
	free, h := family(t, s, "u1", "web", time.Hour, time.Hour)
	fr := rotation(free.ID, h, 0)
	fr.JKT = "key-c"
	if _, err := s.Rotate(ctx, fr); err != nil {
		t.Fatalf("unbound family with a key: %v", err)
	}
}

// testAssertionReplay: a client assertion's jti is accepted once per
// client, by exactly one of many racing callers (instances), is
// forgotten when its TTL ends, and leaves one hashed key with a TTL.
func testAssertionReplay(t *testing.T, newStore NewStore) {
	t.Run("once across racing callers", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		jti := newID()
		wins := raceWins(t, 32, func() (bool, error) { return s.RecordAssertion(ctx, "svc", jti, time.Minute) })
		if wins != 1 {
			t.Fatalf("%d callers saw the assertion as new, want exactly 1", wins)
		}
		// The same jti from another client is another assertion.
		if first, err := s.RecordAssertion(ctx, "other", jti, time.Minute); err != nil || !first {
			t.Fatalf("same jti, other client: %v, %v", first, err)
		}
	})
	t.Run("forgotten after its ttl", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		jti := newID()
		if first, err := s.RecordAssertion(ctx, "svc", jti, 200*time.Millisecond); err != nil || !first {
			t.Fatalf("RecordAssertion = %v, %v", first, err)
		}
		if first, _ := s.RecordAssertion(ctx, "svc", jti, 200*time.Millisecond); first {
			t.Fatal("replay accepted inside the ttl")
		}
		if !eventually(func() bool { first, _ := s.RecordAssertion(ctx, "svc", jti, time.Minute); return first }) {
			t.Fatal("the assertion was never forgotten")
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for _, ttl := range []time.Duration{0, -time.Second, storage.MaxAssertionTTL + time.Second} {
			if _, err := s.RecordAssertion(ctx, "svc", "x", ttl); err == nil {
				t.Errorf("ttl %v accepted", ttl)
			}
		}
		if _, err := s.RecordAssertion(ctx, "svc", "", time.Second); err == nil {
			t.Error("empty jti accepted")
		}
		if _, err := s.RecordAssertion(ctx, "", "x", time.Second); err == nil {
			t.Error("empty client accepted")
		}
	})
	t.Run("hashed key with a ttl", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		rb := redisOf(t, s)
		long := string(make([]byte, 4096)) + "{tag}"
		if _, err := s.RecordAssertion(ctx, "svc", long, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		keys := keysUnder(t, ctx, s)
		if len(keys) != 1 || keys[0] != rb.Prefix()+"client-jti:"+secret.SHA256("svc\x00"+long) {
			t.Fatalf("keys = %q; want one key named by the SHA-256 of client and jti", keys)
		}
		if ttl := rb.Redis().PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 30*time.Second {
			t.Fatalf("ttl %v, want (0, 30s]", ttl)
		}
	})
}
