package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// A client deleted and registered again under its id, with the same
// back-channel logout URI, is not told of the sessions its predecessor
// signed in through (RFC 6749 §10.4: the new registrant may be someone
// else), while a sign-in of the new client is told as usual.
func TestReusedClientIDIsNotToldOfOldSessions(t *testing.T) {
	w := newBCLWorld(t)
	ctx := context.Background()
	reRegister := func(t *testing.T) {
		t.Helper()
		old, err := w.a.Store.GetClient(ctx, w.consentedID)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.a.Store.DeleteClient(ctx, w.consentedID); err != nil {
			t.Fatal(err)
		}
		again := *old // the same registration, the same logout URI
		again.Generation, again.CreatedAt, again.UpdatedAt = "", time.Time{}, time.Time{}
		if err := w.a.Store.CreateClient(ctx, &again); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("the user signs out", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		w.signInTo(t, b, w.consentedID)
		reRegister(t)
		confirm := b.Get("/logout")
		if p := b.Post("/logout", url.Values{"csrf_token": {confirm.Hidden("csrf_token")}}); p.Status != http.StatusOK {
			t.Fatalf("sign-out: %d", p.Status)
		}
		w.consented.wait(t, 0)
	})
	t.Run("the new client's own sign-in is told", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, _ := w.signInTo(t, b, w.consentedID)
		confirm := b.Get("/logout")
		if p := b.Post("/logout", url.Values{"csrf_token": {confirm.Hidden("csrf_token")}}); p.Status != http.StatusOK {
			t.Fatalf("sign-out: %d", p.Status)
		}
		wantLogout(t, w.consented.wait(t, 1), w.a.Alice.ID, idt["sid"].(string))
	})
	t.Run("a delivery queued before the deletion is dropped", func(t *testing.T) {
		d := &storage.LogoutDelivery{ID: "queued-before", ClientID: w.consentedID, Subject: w.a.Alice.ID, CreatedAt: time.Now()}
		time.Sleep(5 * time.Millisecond)
		reRegister(t)
		// Queued now, as if the sender had not reached it before: it was
		// made for the deleted client.
		if err := w.a.Store.EnqueueLogouts(ctx, []*storage.LogoutDelivery{d}, time.Now()); err != nil {
			t.Fatal(err)
		}
		rdb, jobs := w.a.Store.Redis(), w.a.Store.Prefix()+"{logouts}:jobs"
		deadline := time.Now().Add(10 * time.Second)
		for rdb.HLen(ctx, jobs).Val() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := rdb.HLen(ctx, jobs).Val(); n > 0 {
			t.Fatalf("%d deliveries still queued", n)
		}
		w.consented.wait(t, 0)
	})
}
