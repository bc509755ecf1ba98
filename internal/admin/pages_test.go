package admin_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The admin lists answer a bounded page at a time, and following
// next_cursor walks every entry once, in order, also when entries are
// added and removed between pages.
func TestAdminListsArePaged(t *testing.T) {
	h := newHarness(t)
	for i := range admin.DefaultPageSize + 5 {
		if err := h.Store.CreateClient(h.Ctx, &storage.Client{ID: fmt.Sprintf("c%03d", i)}); err != nil {
			t.Fatal(err)
		}
		if err := h.Store.CreateUser(h.Ctx, &storage.User{Username: fmt.Sprintf("u%03d", i), PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path, member, key string
		add               func(key string) error
		remove            func(key string) error
	}{
		{"/admin/v1/clients", "clients", "id",
			func(id string) error { return h.Store.CreateClient(h.Ctx, &storage.Client{ID: id}) },
			func(id string) error { return h.Store.DeleteClient(h.Ctx, id) }},
		{"/admin/v1/users", "users", "username",
			func(name string) error {
				return h.Store.CreateUser(h.Ctx, &storage.User{Username: name, PasswordHash: "x"})
			},
			func(name string) error {
				u, err := h.Store.GetUserByUsername(h.Ctx, name)
				if err != nil {
					return err
				}
				return h.Store.DeleteUser(h.Ctx, u.ID)
			}},
	} {
		t.Run(tc.member, func(t *testing.T) {
			keysOf := func(path string) ([]string, string) {
				t.Helper()
				resp := h.expect(t, h.do(t, http.MethodGet, path, h.bearer, nil), http.StatusOK)
				var keys []string
				for _, e := range resp.JSON[tc.member].([]any) {
					keys = append(keys, e.(map[string]any)[tc.key].(string))
				}
				next, _ := resp.JSON["next_cursor"].(string)
				return keys, next
			}
			first, next := keysOf(tc.path)
			if len(first) != admin.DefaultPageSize || next == "" {
				t.Fatalf("first page without limit: %d entries, next %q; want %d and a cursor", len(first), next, admin.DefaultPageSize)
			}
			var all []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("the pages never end")
				}
				path := tc.path + "?limit=7"
				if cursor != "" {
					path += "&cursor=" + cursor
				}
				keys, next := keysOf(path)
				if len(keys) > 7 {
					t.Fatalf("a page of %d entries, limit 7", len(keys))
				}
				all = append(all, keys...)
				if pages == 1 { // entries come and go between pages
					prefix := tc.member[:1]
					// One before the cursor, one after it, and one after it
					// removed: the walk sees the second only.
					for _, err := range []error{tc.add(prefix + "000a"), tc.add(prefix + "090a"), tc.remove(prefix + "091")} {
						if err != nil {
							t.Fatal(err)
						}
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
				t.Fatalf("walked %v: not sorted, or repeated", all)
			}
			prefix := tc.member[:1]
			if slices.Contains(all, prefix+"000a") || !slices.Contains(all, prefix+"090a") || slices.Contains(all, prefix+"091") ||
				!slices.Contains(all, prefix+"104") {
				t.Fatalf("walked %v", all)
			}
			everything, next := keysOf(fmt.Sprintf("%s?limit=%d", tc.path, admin.MaxPageSize))
			if next != "" || len(everything) != len(all)+1 { // + the one added before the cursor
				t.Fatalf("limit=%d: %d entries and next %q; the walk saw %d", admin.MaxPageSize, len(everything), next, len(all))
			}
		})
	}
	for _, bad := range []string{"limit=0", "limit=-1", fmt.Sprintf("limit=%d", admin.MaxPageSize+1), "limit=ten", "cursor=%21%21", "cursor=="} {
		for _, path := range []string{"/admin/v1/clients?", "/admin/v1/users?"} {
			resp := h.expect(t, h.do(t, http.MethodGet, path+bad, h.bearer, nil), http.StatusBadRequest)
			if errs, _ := resp.JSON["errors"].([]any); len(errs) != 1 {
				t.Errorf("GET %s%s: %s, want one field error", path, bad, resp.Body)
			}
		}
	}
}
