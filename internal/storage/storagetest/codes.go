package storagetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func newCode(life time.Duration) *storage.AuthCode {
	now := time.Now()
	return &storage.AuthCode{
		ClientID: "web", UserID: "u1", RedirectURI: "https://a/cb", Scope: []string{"openid", "profile"},
		CodeChallenge: "abc", CodeChallengeMethod: "S256", Nonce: "n",
		AuthTime: ms(now.Add(-time.Minute)), ExpiresAt: ms(now.Add(life)),
	}
}

func newRedemption() storage.CodeRedemption {
	return storage.CodeRedemption{FamilyID: newID(), AccessJTI: newID(), AccessExpiresAt: ms(time.Now().Add(time.Hour))}
}

func testCodes(t *testing.T, newStore NewStore) {
	t.Run("redeem once then reused", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		h, code := newHash(), newCode(time.Minute)
		if err := s.SaveCode(ctx, h, code); err != nil {
			t.Fatal(err)
		}
		first := newRedemption()
		got, red, err := s.RedeemCode(ctx, h, first)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, code) || *red != first {
			t.Fatalf("RedeemCode = %+v, %+v; want %+v, %+v", got, red, code, first)
		}
		again, red2, err := s.RedeemCode(ctx, h, newRedemption())
		if !errors.Is(err, storage.ErrCodeReused) {
			t.Fatalf("second RedeemCode err = %v, want ErrCodeReused", err)
		}
		if red2 == nil || *red2 != first {
			t.Fatalf("reuse reported redemption %+v, want the first one %+v", red2, first)
		}
		if again == nil || again.ClientID != "web" {
			t.Fatalf("reuse returned code %+v, want the code", again)
		}
	})
	t.Run("unknown and saved twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if _, _, err := s.RedeemCode(ctx, newHash(), newRedemption()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown code err = %v, want ErrNotFound", err)
		}
		h := newHash()
		if err := s.SaveCode(ctx, h, newCode(time.Minute)); err != nil {
			t.Fatal(err)
		}
		other := newCode(time.Minute) // another code: the same one again is a re-delivery
		other.Nonce = "other"
		if err := s.SaveCode(ctx, h, other); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("SaveCode twice err = %v, want ErrConflict", err)
		}
		if err := s.SaveCode(ctx, newHash(), newCode(-time.Second)); err == nil {
			t.Fatal("SaveCode accepted an expired code")
		}
	})
	t.Run("expires", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		h, code := newHash(), newCode(time.Second)
		if err := s.SaveCode(ctx, h, code); err != nil {
			t.Fatal(err)
		}
		sleepUntil(code.ExpiresAt)
		if _, _, err := s.RedeemCode(ctx, h, newRedemption()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("expired code err = %v, want ErrNotFound", err)
		}
	})
	t.Run("replay caught after the code's own expiry", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		h, code := newHash(), newCode(time.Second)
		if err := s.SaveCode(ctx, h, code); err != nil {
			t.Fatal(err)
		}
		first := newRedemption()
		if _, _, err := s.RedeemCode(ctx, h, first); err != nil {
			t.Fatal(err)
		}
		// Past the code's own TTL too, which Redis started a round trip
		// after ExpiresAt was chosen: only the redemption keeps it now.
		sleepUntil(code.ExpiresAt.Add(250 * time.Millisecond))
		_, red, err := s.RedeemCode(ctx, h, newRedemption())
		if !errors.Is(err, storage.ErrCodeReused) || red == nil || red.AccessJTI != first.AccessJTI {
			t.Fatalf("late replay = %+v, %v; want ErrCodeReused with the first redemption", red, err)
		}
	})
	t.Run("50 concurrent redemptions: one winner", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		h := newHash()
		if err := s.SaveCode(ctx, h, newCode(time.Minute)); err != nil {
			t.Fatal(err)
		}
		const n = 50
		issues := make([]storage.CodeRedemption, n)
		reds := make([]*storage.CodeRedemption, n)
		errs := make([]error, n)
		for i := range n {
			issues[i] = newRedemption()
		}
		race(n, func(i int) { _, reds[i], errs[i] = s.RedeemCode(ctx, h, issues[i]) })
		winner, reused := -1, 0
		for i, err := range errs {
			switch {
			case err == nil:
				if winner != -1 {
					t.Fatalf("redemptions %d and %d both won", winner, i)
				}
				winner = i
			case errors.Is(err, storage.ErrCodeReused):
				reused++
			default:
				t.Fatalf("redemption %d: %v", i, err)
			}
		}
		if winner == -1 || reused != n-1 {
			t.Fatalf("winner %d, reused %d; want one winner and %d reused", winner, reused, n-1)
		}
		for i, red := range reds {
			if i != winner && (red == nil || *red != issues[winner]) {
				t.Fatalf("loser %d saw redemption %+v, want the winner's %+v", i, red, issues[winner])
			}
		}
	})
}
