package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func testConsents(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetConsent(none) = %v", err)
	}
	web := &storage.Consent{UserID: "u1", ClientID: "web", Scope: []string{"openid"}, GrantedAt: ms(time.Now())}
	for _, c := range []*storage.Consent{
		web,
		{UserID: "u1", ClientID: "app", Scope: []string{"profile"}},
		{UserID: "u2", ClientID: "web", Scope: []string{"openid"}},
	} {
		if err := s.SaveConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	web.Scope = []string{"openid", "profile"}
	if err := s.SaveConsent(ctx, web); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetConsent(ctx, "u1", "web")
	if err != nil || !reflect.DeepEqual(got, web) {
		t.Fatalf("GetConsent = %+v, %v; want the replaced %+v", got, err, web)
	}
	list, err := s.ListConsents(ctx, "u1")
	if err != nil || len(list) != 2 || list[0].ClientID != "app" || list[1].ClientID != "web" {
		t.Fatalf("ListConsents(u1) = %v, %v", list, err)
	}
	if err := s.DeleteConsent(ctx, "u1", "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConsent(ctx, "u1", "web"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second DeleteConsent = %v", err)
	}
	if _, err := s.GetConsent(ctx, "u2", "web"); err != nil {
		t.Fatalf("another user's consent was touched: %v", err)
	}
}

func testSigningKeys(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	now := ms(time.Now())
	keys := []*storage.SigningKey{
		{ID: "k2", Algorithm: "ES256", State: "active", Material: []byte{1, 2}, CreatedAt: now.Add(-time.Hour), ActivatedAt: now},
		{ID: "k3", Algorithm: "ES256", State: "next", Material: []byte{3}, CreatedAt: now},
		{ID: "k1", Algorithm: "RS256", State: "retired", Material: []byte{4}, CreatedAt: now.Add(-2 * time.Hour), NotAfter: now.Add(time.Hour)},
	}
	for _, k := range keys {
		if err := s.PutSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	keys[1].State = "active"
	if err := s.PutSigningKey(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*storage.SigningKey{keys[2], keys[0], keys[1]}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("ListSigningKeys = %+v, want %+v", list, want)
	}
	if err := s.DeleteSigningKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSigningKey(ctx, "k1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second DeleteSigningKey = %v", err)
	}
	if list, _ := s.ListSigningKeys(ctx); len(list) != 2 {
		t.Fatalf("%d keys after delete, want 2", len(list))
	}
	t.Run("created together, decided once", func(t *testing.T) { testSigningKeysDecidedOnce(t, newStore) })
}

// testSigningKeysDecidedOnce races instances that each propose an active
// and a next key for an algorithm that has none: exactly one proposal is
// stored whole, and the others change nothing.
func testSigningKeysDecidedOnce(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	now := ms(time.Now())
	other := &storage.SigningKey{ID: "es-active", Algorithm: "ES256", State: "active", Material: []byte{1}, CreatedAt: now}
	if err := s.PutSigningKey(ctx, other); err != nil {
		t.Fatal(err)
	}
	const n = 8
	proposals := make([][]*storage.SigningKey, n)
	for i := range proposals {
		proposals[i] = []*storage.SigningKey{
			{ID: fmt.Sprintf("rs-next-%d", i), Algorithm: "RS256", State: "next", Material: []byte{byte(i)}, CreatedAt: now},
			{ID: fmt.Sprintf("rs-active-%d", i), Algorithm: "RS256", State: "active", Material: []byte{byte(i)}, CreatedAt: now, ActivatedAt: now},
		}
	}
	won := make([]bool, n)
	race(n, func(i int) {
		var err error
		if won[i], err = s.PutSigningKeysUnless(ctx, "RS256", "active", proposals[i]...); err != nil {
			t.Error(err)
		}
	})
	winner, winners := -1, 0
	for i, w := range won {
		if w {
			winner, winners = i, winners+1
		}
	}
	if winners != 1 {
		t.Fatalf("%d proposals stored, want exactly 1", winners)
	}
	list, err := s.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]*storage.SigningKey{other}, proposals[winner]...)
	slices.SortFunc(want, func(a, b *storage.SigningKey) int { return strings.Compare(a.ID, b.ID) })
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("keys after the race = %+v, want the ES256 key and the winner's %+v", list, want)
	}
	// A next key is decided the same way, per algorithm and state.
	late := &storage.SigningKey{ID: "es-next", Algorithm: "ES256", State: "next", Material: []byte{2}, CreatedAt: now}
	if won, err := s.PutSigningKeysUnless(ctx, "ES256", "next", late); err != nil || !won {
		t.Fatalf("first ES256 next key = %v, %v; want stored", won, err)
	}
	again := *late
	again.ID, again.Material = "es-next-2", []byte{3}
	if won, err := s.PutSigningKeysUnless(ctx, "ES256", "next", &again); err != nil || won {
		t.Fatalf("second ES256 next key = %v, %v; want not stored", won, err)
	}
	if _, err := s.PutSigningKeysUnless(ctx, "ES256", "next", proposals[0][0]); err == nil {
		t.Fatal("stored an RS256 key in a decision about ES256")
	}
}

// testExpiry checks that everything with a lifetime leaves Redis when it
// ends: after codes, families (with their user index), deny-list entries,
// cutoffs, sessions, authorization requests and client assertion jtis
// expire, no key is left
// under the prefix.
func testExpiry(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	soon := time.Now().Add(time.Second)
	h := newHash()
	if err := s.SaveCode(ctx, h, newCode(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemCode(ctx, newHash(), newRedemption()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	f, h0 := family(t, s, "u1", "web", time.Second, time.Second)
	if _, err := s.Rotate(ctx, rotation(f.ID, h0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeJTI(ctx, "j", soon); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: storage.SubjectCutoff("u1"), NotBefore: time.Now(), Until: soon}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSession(ctx, newHash(), &storage.BrowserSession{CSRFToken: "c", ExpiresAt: soon}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthRequest(ctx, &storage.AuthRequest{ID: newID(), ClientID: "web", ExpiresAt: soon}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordAssertion(ctx, "svc", newID(), time.Second); err != nil {
		t.Fatal(err)
	}
	if keys := keysUnder(t, ctx, s); len(keys) == 0 {
		t.Fatal("no keys under the prefix: the scan below proves nothing")
	}
	var left []string
	if !eventually(func() bool { left = keysUnder(t, ctx, s); return len(left) == 0 }) {
		t.Fatalf("keys left after everything expired: %v", left)
	}
}

// keysUnder lists the store's keys with SCAN on every node (tests only:
// the store itself never scans).
func keysUnder(t *testing.T, ctx context.Context, s storage.Storage) []string {
	t.Helper()
	rb := redisOf(t, s)
	keys, err := testredis.Keys(ctx, rb.Redis(), rb.Prefix()+"*")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
