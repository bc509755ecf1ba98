package storagetest

import (
	"errors"

	"slices"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func newPasskey(userID string) *storage.Passkey {
	return &storage.Passkey{ID: []byte("cred-" + newID()), UserID: userID, Name: "key", PublicKey: []byte("cose"),
		Transports: []string{"usb"}, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

// testPasskeys: a user's passkeys are bounded, their ids unique across
// users, an update is a compare-and-set, and deleting the user removes
// every passkey and index entry with it, leaving no key behind.
func testPasskeys(t *testing.T, newStore NewStore) {
	t.Run("add list update delete", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "pk-" + newID(), PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PasskeyHandle(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("handle before any passkey: %v", err)
		}
		handle := []byte("handle-" + newID())
		p := newPasskey(u.ID)
		if err := s.AddPasskey(ctx, handle, p); err != nil {
			t.Fatal(err)
		}
		if err := s.AddPasskey(ctx, handle, p); err != nil {
			t.Fatalf("the same record again: %v", err) // a redelivery
		}
		if h, err := s.PasskeyHandle(ctx, u.ID); err != nil || string(h) != string(handle) {
			t.Fatalf("handle = %q, %v", h, err)
		}
		if uid, err := s.PasskeyUser(ctx, handle); err != nil || uid != u.ID {
			t.Fatalf("user of handle = %q, %v", uid, err)
		}
		other := newPasskey(u.ID)
		if err := s.AddPasskey(ctx, []byte("another handle"), other); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("a second handle for the user: %v, want ErrConflict", err)
		}
		v := &storage.User{Username: "pk-" + newID(), PasswordHash: "h"}
		if err := s.CreateUser(ctx, v); err != nil {
			t.Fatal(err)
		}
		stolen := *p
		stolen.UserID = v.ID
		if err := s.AddPasskey(ctx, []byte("v-"+newID()), &stolen); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("another user registers the same credential id: %v, want ErrConflict", err)
		}
		if err := s.AddPasskey(ctx, handle, newPasskey("nobody")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a passkey for no user: %v, want ErrNotFound", err)
		}
		used := *p
		used.SignCount, used.LastUsedAt, used.BackupState = 7, time.Now().UTC(), true
		if err := s.UpdatePasskey(ctx, p, &used); err != nil {
			t.Fatal(err)
		}
		stale := *p
		stale.SignCount = 3
		if err := s.UpdatePasskey(ctx, p, &stale); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("an update from a stale read: %v, want ErrConflict", err)
		}
		list, err := s.ListPasskeys(ctx, u.ID)
		if err != nil || len(list) != 1 || list[0].SignCount != 7 || !list[0].BackupState {
			t.Fatalf("ListPasskeys = %+v, %v", list, err)
		}
		if err := s.DeletePasskey(ctx, u.ID, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePasskey(ctx, u.ID, p.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := s.UpdatePasskey(ctx, &used, &used); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		// Its id is free again, for the same user and handle.
		if err := s.AddPasskey(ctx, handle, p); err != nil {
			t.Fatalf("re-adding a removed passkey: %v", err)
		}
	})
	t.Run("bounded per user", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "pk-" + newID(), PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		handle := []byte("h-" + newID())
		for i := range storage.MaxPasskeys {
			if err := s.AddPasskey(ctx, handle, newPasskey(u.ID)); err != nil {
				t.Fatalf("passkey %d: %v", i, err)
			}
		}
		if err := s.AddPasskey(ctx, handle, newPasskey(u.ID)); !errors.Is(err, storage.ErrPasskeysFull) {
			t.Fatalf("one too many: %v, want ErrPasskeysFull", err)
		}
		if err := s.AddPasskey(ctx, handle, &storage.Passkey{ID: make([]byte, storage.MaxPasskeyIDLen+1), UserID: u.ID, PublicKey: []byte("k")}); err == nil {
			t.Fatal("an over-long credential id was accepted")
		}
	})
	t.Run("deleting the user deletes its passkeys", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		keep := &storage.User{Username: "keep-" + newID(), PasswordHash: "h"}
		gone := &storage.User{Username: "gone-" + newID(), PasswordHash: "h"}
		for _, u := range []*storage.User{keep, gone} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		kept := newPasskey(keep.ID)
		if err := s.AddPasskey(ctx, []byte("keep"), kept); err != nil {
			t.Fatal(err)
		}
		before := keysUnder(t, ctx, s)
		var goneKeys []*storage.Passkey
		for range 3 {
			p := newPasskey(gone.ID)
			goneKeys = append(goneKeys, p)
			if err := s.AddPasskey(ctx, []byte("gone"), p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteUser(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		if uid, err := s.PasskeyUser(ctx, []byte("gone")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the deleted user's handle still names %q (%v)", uid, err)
		}
		if list, _ := s.ListPasskeys(ctx, gone.ID); len(list) != 0 {
			t.Fatalf("the deleted user still has %d passkeys", len(list))
		}
		// The credential ids are free: the index forgot them.
		p := *goneKeys[0]
		p.UserID = keep.ID
		if err := s.AddPasskey(ctx, []byte("keep"), &p); err != nil {
			t.Fatalf("a deleted user's credential id is still taken: %v", err)
		}
		if err := s.DeletePasskey(ctx, keep.ID, p.ID); err != nil {
			t.Fatal(err)
		}
		after := keysUnder(t, ctx, s)
		if !slices.Equal(sortedCopy(before), sortedCopy(after)) {
			t.Fatalf("keys before the user's passkeys %q, after deleting the user %q", before, after)
		}
		if uid, err := s.PasskeyUser(ctx, []byte("keep")); err != nil || uid != keep.ID {
			t.Fatalf("the other user's handle: %q, %v", uid, err)
		}
	})
	t.Run("a ceremony is used once", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		ch := "challenge-" + newID()
		wins := raceWins(t, 32, func() (bool, error) { return s.RecordCeremony(ctx, ch, time.Minute) })
		if wins != 1 {
			t.Fatalf("%d callers used the challenge, want exactly 1", wins)
		}
		for _, ttl := range []time.Duration{0, storage.MaxCeremonyTTL + time.Second} {
			if _, err := s.RecordCeremony(ctx, "x", ttl); err == nil {
				t.Errorf("ttl %v accepted", ttl)
			}
		}
		if _, err := s.RecordCeremony(ctx, "", time.Second); err == nil {
			t.Error("empty challenge accepted")
		}
	})
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
