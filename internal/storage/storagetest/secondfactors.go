package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func testSecondFactors(t *testing.T, newStoreAt NewStoreAt) {
	// enrolled returns a store with a user holding a confirmed factor
	// (last used step 100) and recovery codes "a".."c" (hashed).
	enrolled := func(t *testing.T, now func() time.Time) (storage.Storage, string, string) {
		s, ctx := newStoreAt(t, now), ctxFor(t)
		uid, id := "u-"+newID(), "f-"+newID()
		if err := s.SetPendingTOTP(ctx, uid, &storage.TOTPFactor{ID: id, Sealed: "sealed", CreatedAt: time.Now(), Until: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.ConfirmTOTP(ctx, uid, id, 100, []string{secret.SHA256("a"), secret.SHA256("b"), secret.SHA256("c")}); err != nil {
			t.Fatal(err)
		}
		return s, uid, id
	}
	t.Run("confirm", func(t *testing.T) {
		parallel(t)
		s, uid, id := enrolled(t, nil)
		f, err := s.GetSecondFactors(ctxFor(t), uid)
		if err != nil || f.TOTP == nil || f.TOTP.ID != id || !f.TOTP.Until.IsZero() || f.PendingTOTP != nil || f.RecoveryLeft != 3 {
			t.Fatalf("after confirm: %+v, %v", f, err)
		}
		// Confirmed, the record is kept, also while a new enrolment is
		// pending: only a record with nothing else expires with one.
		if err := s.SetPendingTOTP(ctxFor(t), uid, &storage.TOTPFactor{ID: "next", Sealed: "x", Until: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		rb := redisOf(t, s)
		if ttl, err := rb.Redis().PTTL(ctxFor(t), rb.Prefix()+"mfa:"+uid).Result(); err != nil || ttl != -1 {
			t.Fatalf("a confirmed factor's record has TTL %v (%v), want none", ttl, err)
		}
		if err := s.ConfirmTOTP(ctxFor(t), uid, id, 101, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("confirm twice: %v, want ErrNotFound", err)
		}
		none, err := s.GetSecondFactors(ctxFor(t), "nobody-"+newID())
		if err != nil || none.TOTP != nil || none.RecoveryLeft != 0 {
			t.Fatalf("a user without factors: %+v, %v", none, err)
		}
	})
	t.Run("a pending enrolment ends", func(t *testing.T) {
		parallel(t)
		clk := newClock()
		s, ctx := newStoreAt(t, clk.Now), ctxFor(t)
		uid := "u-" + newID()
		if err := s.SetPendingTOTP(ctx, uid, &storage.TOTPFactor{ID: "p", Sealed: "x", Until: clk.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		clk.add(2 * time.Minute)
		if f, _ := s.GetSecondFactors(ctx, uid); f.PendingTOTP != nil {
			t.Fatal("an expired enrolment is still pending")
		}
		if err := s.ConfirmTOTP(ctx, uid, "p", 1, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("confirming an expired enrolment: %v", err)
		}
	})
	t.Run("a time step once across racing callers", func(t *testing.T) {
		parallel(t)
		s, uid, id := enrolled(t, nil)
		ctx := ctxFor(t)
		wins := raceWins(t, 16, func() (bool, error) {
			err := s.UseTOTPStep(ctx, uid, id, 101)
			if errors.Is(err, storage.ErrFactorReplayed) {
				return false, nil
			}
			return err == nil, err
		})
		if wins != 1 {
			t.Fatalf("%d callers used step 101, want 1", wins)
		}
		if err := s.UseTOTPStep(ctx, uid, id, 100); !errors.Is(err, storage.ErrFactorReplayed) {
			t.Fatalf("an earlier step: %v, want ErrFactorReplayed", err)
		}
		if err := s.UseTOTPStep(ctx, uid, "other", 102); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("another factor's id: %v, want ErrNotFound", err)
		}
	})
	t.Run("a recovery code once across racing callers", func(t *testing.T) {
		parallel(t)
		s, uid, _ := enrolled(t, nil)
		ctx := ctxFor(t)
		wins := raceWins(t, 16, func() (bool, error) {
			left, err := s.UseRecoveryCode(ctx, uid, secret.SHA256("b"))
			if errors.Is(err, storage.ErrNotFound) {
				return false, nil
			}
			if err == nil && left != 2 {
				t.Errorf("left %d, want 2", left)
			}
			return err == nil, err
		})
		if wins != 1 {
			t.Fatalf("%d callers used the code, want 1", wins)
		}
		f, err := s.GetSecondFactors(ctx, uid)
		if err != nil || f.RecoveryLeft != 2 || f.RecoveryUsedAt.IsZero() {
			t.Fatalf("after use: %+v, %v", f, err)
		}
	})
	t.Run("new recovery codes void the old ones", func(t *testing.T) {
		parallel(t)
		s, uid, _ := enrolled(t, nil)
		ctx := ctxFor(t)
		if err := s.ReplaceRecoveryCodes(ctx, uid, []string{secret.SHA256("z")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseRecoveryCode(ctx, uid, secret.SHA256("a")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("an old code: %v", err)
		}
		if left, err := s.UseRecoveryCode(ctx, uid, secret.SHA256("z")); err != nil || left != 0 {
			t.Fatalf("the new code: %d, %v", left, err)
		}
		if err := s.ReplaceRecoveryCodes(ctx, "nobody-"+newID(), []string{"x"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("codes for a user without a factor: %v", err)
		}
	})
	t.Run("removed with the user", func(t *testing.T) {
		parallel(t)
		s, ctx := newStoreAt(t, nil), ctxFor(t)
		u := &storage.User{ID: "u-" + newID(), Username: "mfa-" + newID(), PasswordHash: "x"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_ = s.SetPendingTOTP(ctx, u.ID, &storage.TOTPFactor{ID: "f", Sealed: "x", Until: time.Now().Add(time.Hour)})
		if err := s.ConfirmTOTP(ctx, u.ID, "f", 1, []string{"h"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if f, err := s.GetSecondFactors(ctx, u.ID); err != nil || f.TOTP != nil || f.RecoveryLeft != 0 {
			t.Fatalf("after DeleteUser: %+v, %v", f, err)
		}
		rb := redisOf(t, s)
		if n, _ := rb.Redis().Exists(ctx, rb.Prefix()+"mfa:"+u.ID).Result(); n != 0 {
			t.Fatal("the mfa record outlived its user")
		}
	})
}
