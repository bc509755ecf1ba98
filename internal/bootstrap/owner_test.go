package bootstrap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The file owns what it declares (docs/bootstrap.md, "Who owns an entry"):
// those records are marked, re-applying the file puts them back as the
// file says, a record of the same name made elsewhere is taken over, and
// one dropped from the file is released to the admin API.

func newTestApplier(st Store) *Applier {
	return NewApplier(st, cheapHasher(), slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
}

func mustApply(t *testing.T, a *Applier, doc string) Result {
	t.Helper()
	f, err := Parse([]byte(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Apply(context.Background(), f, account.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func managedBy(t *testing.T, st *storage.Store, clientID, username string) (client, user string) {
	t.Helper()
	ctx := context.Background()
	c, err := st.GetClient(ctx, clientID)
	if err != nil {
		t.Fatalf("client %s: %v", clientID, err)
	}
	u, err := st.GetUserByUsername(ctx, username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return c.ManagedBy, u.ManagedBy
}

func TestApplyMarksWhatTheFileDeclares(t *testing.T) {
	st := openStore(t)
	mustApply(t, newTestApplier(st), applyDoc)
	for _, id := range []string{"web", "spa"} {
		if c, _ := st.GetClient(context.Background(), id); c.ManagedBy != storage.ManagedByBootstrap {
			t.Errorf("client %s managed_by = %q, want %q", id, c.ManagedBy, storage.ManagedByBootstrap)
		}
	}
	if _, u := managedBy(t, st, "web", "alice"); u != storage.ManagedByBootstrap {
		t.Errorf("user alice managed_by = %q, want %q", u, storage.ManagedByBootstrap)
	}
}

// Whatever changed a file record in Redis, and also its deletion, is
// undone by the next apply, also by a new Applier (a restart).
func TestApplyRestoresFileRecords(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	mustApply(t, newTestApplier(st), applyDoc)
	alice, _ := st.GetUserByUsername(ctx, "alice")

	web, _ := st.GetClient(ctx, "web")
	web.RedirectURIs, web.ManagedBy = []string{"https://evil.example/cb"}, ""
	if err := st.UpsertClient(ctx, web); err != nil {
		t.Fatal(err)
	}
	alice.Roles = []string{"admin"}
	if err := st.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteClient(ctx, "spa"); err != nil {
		t.Fatal(err)
	}

	if res := mustApply(t, newTestApplier(st), applyDoc); res != (Result{Created: 1, Updated: 2}) {
		t.Fatalf("apply = %+v, want spa created, web and alice updated", res)
	}
	web, _ = st.GetClient(ctx, "web")
	if !slices.Equal(web.RedirectURIs, []string{"https://web.example/cb"}) || web.ManagedBy != storage.ManagedByBootstrap {
		t.Errorf("web after apply = %+v, want the file's", web)
	}
	again, _ := st.GetUserByUsername(ctx, "alice")
	if !slices.Equal(again.Roles, []string{"user"}) || again.ID != alice.ID || again.ManagedBy != storage.ManagedByBootstrap {
		t.Errorf("alice after apply = %+v, want the file's roles under id %s", again, alice.ID)
	}
	if c, err := st.GetClient(ctx, "spa"); err != nil || c.ManagedBy != storage.ManagedByBootstrap {
		t.Errorf("spa after apply = %+v, %v; want it back", c, err)
	}
}

// A client or user made through the admin API or the CLI under a name the
// file declares is taken over: it becomes the file's, the user under its
// own ID. Records the file does not name are not touched.
func TestApplyTakesOverRecordsOfTheSameName(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	adminMade := []*storage.Client{
		{ID: "web", Name: "Admin's web", Public: true, RedirectURIs: []string{"https://other.example/cb"}, GrantTypes: []string{"authorization_code"}},
		{ID: "other", Public: true, RedirectURIs: []string{"https://other.example/cb"}, GrantTypes: []string{"authorization_code"}},
	}
	for _, c := range adminMade {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	bob := &storage.User{Username: "alice", PasswordHash: "x", Roles: []string{"admin"}}
	if err := st.CreateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	other0, _ := st.GetClient(ctx, "other")

	if res := mustApply(t, newTestApplier(st), applyDoc); res != (Result{Created: 1, Updated: 2}) {
		t.Fatalf("apply = %+v, want spa created, web and alice taken over", res)
	}
	web, _ := st.GetClient(ctx, "web")
	if web.Public || web.Name != "" || web.ManagedBy != storage.ManagedByBootstrap {
		t.Errorf("web = %+v, want the file's registration, marked", web)
	}
	alice, _ := st.GetUserByUsername(ctx, "alice")
	if alice.ID != bob.ID || !slices.Equal(alice.Roles, []string{"user"}) || alice.ManagedBy != storage.ManagedByBootstrap {
		t.Errorf("alice = %+v, want the file's roles under id %s, marked", alice, bob.ID)
	}
	if ok, _ := cheapHasher().Verify(alice.PasswordHash, "alice-password"); !ok {
		t.Error("alice's password is not the file's")
	}
	other, _ := st.GetClient(ctx, "other")
	if other.ManagedBy != "" || !other.UpdatedAt.Equal(other0.UpdatedAt) {
		t.Errorf("a client the file does not name was touched: %+v", other)
	}
}

// A record an earlier file declared and the current one does not stays
// as it is, unmarked, so that an administrator can change or delete it;
// the list of what the file declared is in Redis, so a restart (a new
// Applier) knows it.
func TestApplyReleasesRecordsDroppedFromTheFile(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	mustApply(t, newTestApplier(st), applyDoc)
	web0, _ := st.GetClient(ctx, "web")

	withoutSpaAndAlice := applyDoc[:strings.Index(applyDoc, "  - id: spa")]
	if res := mustApply(t, newTestApplier(st), withoutSpaAndAlice); res != (Result{Unchanged: 1, Released: 2}) {
		t.Fatalf("apply = %+v, want web unchanged, spa and alice released", res)
	}
	if c, u := managedBy(t, st, "spa", "alice"); c != "" || u != "" {
		t.Errorf("released spa and alice are marked %q and %q, want unmarked", c, u)
	}
	if web, _ := st.GetClient(ctx, "web"); web.ManagedBy != storage.ManagedByBootstrap || !web.UpdatedAt.Equal(web0.UpdatedAt) {
		t.Errorf("web, still in the file, = %+v", web)
	}
	if spa, _ := st.GetClient(ctx, "spa"); !slices.Equal(spa.RedirectURIs, []string{"https://spa.example/cb"}) {
		t.Errorf("released spa changed: %+v", spa)
	}

	if res := mustApply(t, newTestApplier(st), withoutSpaAndAlice); res != (Result{Unchanged: 1}) {
		t.Fatalf("second apply = %+v, want nothing released again", res)
	}
	// Released, then deleted by an administrator: applying the same file
	// does not bring it back.
	if err := st.DeleteClient(ctx, "spa"); err != nil {
		t.Fatal(err)
	}
	mustApply(t, newTestApplier(st), withoutSpaAndAlice)
	if _, err := st.GetClient(ctx, "spa"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleted spa after apply: %v, want storage.ErrNotFound", err)
	}
	// No file at all (an empty one) releases the rest.
	if res := mustApply(t, newTestApplier(st), ""); res != (Result{Released: 1}) {
		t.Fatalf("empty file = %+v, want web released", res)
	}
}

// failingUsers makes every user write fail, as a run cut short would.
type failingUsers struct{ *storage.Store }

func (failingUsers) UpsertUser(context.Context, *storage.User) error {
	return errors.New("bootstrap test: redis went away")
}

// A run that fails after marking some records leaves them on the list, so
// that the next run releases them if the file dropped them meanwhile.
func TestApplyCutShortStillReleasesLater(t *testing.T) {
	st := openStore(t)
	f, err := Parse([]byte(applyDoc), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newTestApplier(failingUsers{st}).Apply(context.Background(), f, account.Policy{}); err == nil {
		t.Fatal("apply with failing user writes succeeded")
	}
	if web, _ := st.GetClient(context.Background(), "web"); web.ManagedBy != storage.ManagedByBootstrap {
		t.Fatalf("web = %+v, want marked by the cut-short run", web)
	}
	if res := mustApply(t, newTestApplier(st), ""); res != (Result{Released: 2}) {
		t.Fatalf("empty file after the cut-short run = %+v, want web and spa released", res)
	}
}
