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
	t.Run("read, redeem once, then reused", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		h, code := newHash(), newCode(time.Minute)
		if err := s.SaveCode(ctx, h, code); err != nil {
			t.Fatal(err)
		}
		// Reading is what a presenter who fails the checks does: any
		// number of reads leave the code to be redeemed.
		for range 3 {
			got, err := s.GetCode(ctx, h)
			if err != nil || !reflect.DeepEqual(got, code) {
				t.Fatalf("GetCode = %+v, %v; want %+v", got, err, code)
			}
		}
		first := newRedemption()
		red, err := s.RedeemCode(ctx, h, first)
		if err != nil || *red != first {
			t.Fatalf("RedeemCode = %+v, %v; want %+v", red, err, first)
		}
		// Redeemed, it is still read, so that its presenter can be checked
		// and a replay told apart from a wrong presenter.
		if got, err := s.GetCode(ctx, h); err != nil || !reflect.DeepEqual(got, code) {
			t.Fatalf("GetCode after redemption = %+v, %v; want the code", got, err)
		}
		red2, err := s.RedeemCode(ctx, h, newRedemption())
		if !errors.Is(err, storage.ErrCodeReused) {
			t.Fatalf("second RedeemCode err = %v, want ErrCodeReused", err)
		}
		if red2 == nil || *red2 != first {
			t.Fatalf("reuse reported redemption %+v, want the first one %+v", red2, first)
		}
	})
	t.Run("unknown and saved twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if _, err := s.GetCode(ctx, newHash()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetCode of an unknown code err = %v, want ErrNotFound", err)
		}
		if _, err := s.RedeemCode(ctx, newHash(), newRedemption()); !errors.Is(err, storage.ErrNotFound) {
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
		if got, err := s.GetCode(ctx, h); err != nil || got.Nonce != "n" {
			t.Fatalf("GetCode after a refused save = %+v, %v; want the first code", got, err)
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
		if _, err := s.GetCode(ctx, h); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetCode of an expired code err = %v, want ErrNotFound", err)
		}
		if _, err := s.RedeemCode(ctx, h, newRedemption()); !errors.Is(err, storage.ErrNotFound) {
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
		if _, err := s.RedeemCode(ctx, h, first); err != nil {
			t.Fatal(err)
		}
		// Past the code's own TTL too, which Redis started a round trip
		// after ExpiresAt was chosen: only the redemption keeps it now.
		sleepUntil(code.ExpiresAt.Add(250 * time.Millisecond))
		if got, err := s.GetCode(ctx, h); err != nil || got.ClientID != "web" {
			t.Fatalf("GetCode of a redeemed code past its expiry = %+v, %v; want the code", got, err)
		}
		red, err := s.RedeemCode(ctx, h, newRedemption())
		if !errors.Is(err, storage.ErrCodeReused) || red == nil || red.AccessJTI != first.AccessJTI {
			t.Fatalf("late replay = %+v, %v; want ErrCodeReused with the first redemption", red, err)
		}
	})
	t.Run("50 concurrent reads and redemptions: one winner", func(t *testing.T) {
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
		// As the token endpoint does: read, check, claim. Every other
		// racer only reads, as a presenter failing its checks does.
		race(n, func(i int) {
			if _, errs[i] = s.GetCode(ctx, h); errs[i] == nil && i%2 == 0 {
				reds[i], errs[i] = s.RedeemCode(ctx, h, issues[i])
			}
		})
		winner, reused := -1, 0
		for i, err := range errs {
			switch {
			case err == nil && i%2 == 1:
			case err == nil:
				if winner != -1 {
					t.Fatalf("redemptions %d and %d both won", winner, i)
				}
				winner = i
			case errors.Is(err, storage.ErrCodeReused):
				reused++
			default:
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		if winner == -1 || reused != n/2-1 {
			t.Fatalf("winner %d, reused %d; want one winner and %d reused", winner, reused, n/2-1)
		}
		for i, red := range reds {
			if i%2 == 0 && i != winner && (red == nil || *red != issues[winner]) {
				t.Fatalf("loser %d saw redemption %+v, want the winner's %+v", i, red, issues[winner])
			}
		}
	})
}
