package resourceserver

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func key(i int) cacheKey { return sha256.Sum256(fmt.Append(nil, i)) }

func TestTokenCacheIsBounded(t *testing.T) {
	now := time.Now()
	claims := &Claims{ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name    string
		size    int
		inserts int
	}{
		{"below the bound", 10, 5},
		{"at the bound", 10, 10},
		{"far above the bound", 10, 1000},
		{"smallest", 2, 50},
		{"odd size", 5, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(tc.size)
			for i := range tc.inserts {
				c.put(key(i), claims)
				if c.len() > tc.size {
					t.Fatalf("after %d inserts the cache holds %d > %d", i+1, c.len(), tc.size)
				}
			}
			if c.get(key(tc.inserts-1), now) == nil {
				t.Fatal("the newest entry was evicted")
			}
		})
	}
}

func TestTokenCacheKeepsWhatIsUsed(t *testing.T) {
	now := time.Now()
	claims := &Claims{ExpiresAt: now.Add(time.Hour)}
	c := newTokenCache(4) // two generations of two
	c.put(key(0), claims)
	c.put(key(1), claims)
	c.put(key(2), claims)          // 0 and 1 move to the old generation
	if c.get(key(0), now) == nil { // a hit promotes 0 back
		t.Fatal("entry 0 lost too early")
	}
	c.put(key(3), claims) // drops the old generation, which no longer holds 0
	if c.get(key(0), now) == nil {
		t.Fatal("a recently used entry was evicted")
	}
	if c.get(key(1), now) != nil {
		t.Fatal("an unused entry survived two generations")
	}
}

func TestTokenCacheNeverServesExpired(t *testing.T) {
	now := time.Now()
	c := newTokenCache(10)
	c.put(key(1), &Claims{ExpiresAt: now.Add(time.Second)})
	for _, tc := range []struct {
		name string
		at   time.Time
		hit  bool
	}{
		{"before exp", now, true},
		{"at exp", now.Add(time.Second), false},
		{"after exp", now.Add(time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.get(key(1), tc.at) != nil; got != tc.hit {
				t.Fatalf("hit = %v, want %v", got, tc.hit)
			}
		})
	}
}

func TestRevocationList(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	d := NewRevocationList()
	d.DenyJTI("j1", now.Add(time.Minute))
	d.AddCutoff(Cutoff{Kind: CutoffSubject, ID: "alice", NotBefore: now, Until: now.Add(time.Hour)})
	d.AddCutoff(Cutoff{Kind: CutoffClient, ID: "app", NotBefore: now, Until: now.Add(time.Minute)})
	d.AddCutoff(Cutoff{Kind: "tenant", ID: "x", NotBefore: now, Until: now.Add(time.Hour)}) // unknown kind
	tests := []struct {
		name    string
		claims  Claims
		revoked bool
	}{
		{"denied jti", Claims{JTI: "j1", Subject: "bob", ClientID: "web", IssuedAt: now}, true},
		{"subject before cutoff", Claims{JTI: "j2", Subject: "alice", ClientID: "web", IssuedAt: now.Add(-time.Second)}, true},
		{"subject at cutoff", Claims{JTI: "j3", Subject: "alice", ClientID: "web", IssuedAt: now}, false},
		{"client before cutoff", Claims{JTI: "j4", Subject: "bob", ClientID: "app", IssuedAt: now.Add(-time.Second)}, true},
		{"client id as subject is not the client", Claims{JTI: "j5", Subject: "app", ClientID: "web", IssuedAt: now.Add(-time.Second)}, false},
		{"untouched", Claims{JTI: "j6", Subject: "bob", ClientID: "web", IssuedAt: now.Add(-time.Second)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.Revoked(&tc.claims); got != tc.revoked {
				t.Fatalf("revoked = %v, want %v", got, tc.revoked)
			}
		})
	}
	d.Prune(now.Add(2 * time.Minute))
	if jtis, cutoffs := d.Size(); jtis != 0 || cutoffs != 1 {
		t.Fatalf("after prune: %d jtis, %d cutoffs; want 0 and alice's", jtis, cutoffs)
	}
}
