package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func newDevice(life time.Duration) *storage.DeviceAuthorization {
	now := time.Now()
	return &storage.DeviceAuthorization{ClientID: "tv", ClientGeneration: "g1", Scope: []string{"openid"},
		UserCodeHash: newHash(), CreatedAt: ms(now), ExpiresAt: ms(now.Add(life))}
}

// testDevices: a device authorization (RFC 8628) is found by its user
// code, decided once, polled with slow_down, consumed by exactly one of
// many racing polls, answered the same when one call is delivered twice,
// and gone from Redis when it ends.
func testDevices(t *testing.T, newStore NewStore) {
	t.Run("lifecycle", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		dh, a := newHash(), newDevice(time.Minute)
		if err := s.CreateDevice(ctx, dh, a, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDevice(ctx, dh, a, time.Hour); err != nil {
			t.Fatalf("create delivered twice = %v, want nil", err)
		}
		other := newDevice(time.Minute)
		other.UserCodeHash = a.UserCodeHash
		if err := s.CreateDevice(ctx, newHash(), other, time.Hour); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second authorization with the same user code = %v, want ErrConflict", err)
		}
		got, st, err := s.GetDeviceByUserCode(ctx, a.UserCodeHash)
		if err != nil || got != dh || st.ClientID != "tv" || st.Status != storage.DevicePending || st.Interval != time.Hour {
			t.Fatalf("GetDeviceByUserCode = %q, %+v, %v", got, st, err)
		}
		if _, _, err := s.GetDeviceByUserCode(ctx, newHash()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown user code = %v", err)
		}
		// The first poll is pending; one before the interval passed is
		// slow_down and grows the interval; the same poll sent twice
		// answers the same and grows nothing more.
		if p, err := s.PollDevice(ctx, dh, "p1", false); err != nil || p.Outcome != storage.DevicePending {
			t.Fatalf("first poll = %+v, %v", p, err)
		}
		p, err := s.PollDevice(ctx, dh, "p2", false)
		if err != nil || p.Outcome != storage.DeviceSlowDown || p.Interval != time.Hour+storage.DeviceSlowDownStep {
			t.Fatalf("early poll = %+v, %v; want slow_down with a longer interval", p, err)
		}
		if p, err := s.PollDevice(ctx, dh, "p2", false); err != nil || p.Outcome != storage.DeviceSlowDown || p.Interval != time.Hour+storage.DeviceSlowDownStep {
			t.Fatalf("early poll delivered twice = %+v, %v", p, err)
		}
		grant := &storage.DeviceGrant{UserID: "u1", Scope: []string{"openid"}, AuthTime: ms(time.Now()), SID: "sid"}
		if err := s.DecideDevice(ctx, dh, true, grant); err != nil {
			t.Fatal(err)
		}
		if err := s.DecideDevice(ctx, dh, true, grant); err != nil {
			t.Fatalf("approval delivered twice = %v", err)
		}
		if err := s.DecideDevice(ctx, dh, false, &storage.DeviceGrant{UserID: "u2"}); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second decision = %v, want ErrConflict", err)
		}
		if p, err := s.PollDevice(ctx, dh, "p3", false); err != nil || p.Outcome != storage.DeviceNotReady {
			t.Fatalf("unprepared poll of an approval = %+v, %v; want DeviceNotReady", p, err)
		}
		wins := raceWins(t, 16, func() (bool, error) {
			p, err := s.PollDevice(ctx, dh, newID(), true)
			if err != nil {
				return false, err
			}
			if p.Outcome == storage.DeviceConsumed && (p.Grant == nil || p.Grant.UserID != "u1" || p.Grant.SID != "sid") {
				t.Errorf("consumed with %+v", p.Grant)
			}
			if p.Outcome != storage.DeviceConsumed && p.Outcome != storage.DeviceUsed {
				t.Errorf("racing poll = %+v", p)
			}
			return p.Outcome == storage.DeviceConsumed, nil
		})
		if wins != 1 {
			t.Fatalf("%d polls consumed the approval, want 1", wins)
		}
		// Both keys end by themselves: the user code at the expiry, the
		// record storage.DeviceRetention later (Expiry cannot wait that
		// long).
		keys := keysUnder(t, ctx, s)
		if len(keys) != 2 {
			t.Fatalf("keys = %q, want the record and its user code (the refused one stored nothing)", keys)
		}
		for _, k := range keys {
			ttl := redisOf(t, s).Redis().PTTL(ctx, k).Val()
			if ttl <= 0 || ttl > time.Minute+storage.DeviceRetention {
				t.Fatalf("key %s has ttl %v, want (0, expiry+retention]", k, ttl)
			}
		}
	})
	t.Run("consumption delivered twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		dh := newHash()
		if err := s.CreateDevice(ctx, dh, newDevice(time.Minute), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.DecideDevice(ctx, dh, true, &storage.DeviceGrant{UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if p, err := s.PollDevice(ctx, dh, "same", true); err != nil || p.Outcome != storage.DeviceConsumed {
				t.Fatalf("delivery %d of one poll = %+v, %v; want the grant", i+1, p, err)
			}
		}
		if p, err := s.PollDevice(ctx, dh, "other", true); err != nil || p.Outcome != storage.DeviceUsed {
			t.Fatalf("another poll = %+v, %v; want DeviceUsed", p, err)
		}
	})
	t.Run("denied and expired", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		dh := newHash()
		if err := s.CreateDevice(ctx, dh, newDevice(time.Minute), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.DecideDevice(ctx, dh, false, &storage.DeviceGrant{UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.PollDevice(ctx, dh, "p", true); err != nil || p.Outcome != storage.DeviceDenied {
			t.Fatalf("poll of a denial = %+v, %v", p, err)
		}
		short := newDevice(150 * time.Millisecond)
		dh2 := newHash()
		if err := s.CreateDevice(ctx, dh2, short, time.Second); err != nil {
			t.Fatal(err)
		}
		sleepUntil(short.ExpiresAt.Add(10 * time.Millisecond))
		if _, _, err := s.GetDeviceByUserCode(ctx, short.UserCodeHash); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("expired user code = %v, want ErrNotFound", err)
		}
		if err := s.DecideDevice(ctx, dh2, true, &storage.DeviceGrant{UserID: "u1"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("approval after expiry = %v, want ErrNotFound", err)
		}
		if p, err := s.PollDevice(ctx, dh2, "p", true); err != nil || p.Outcome != storage.DeviceExpired {
			t.Fatalf("poll after expiry = %+v, %v; want DeviceExpired", p, err)
		}
		if _, err := s.PollDevice(ctx, newHash(), "p", true); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("poll of an unknown device code = %v", err)
		}
	})
}
