package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// TestSeedScenario is DESIGN.md §5's classic case: a normal user posts
// only as themself; an admin posts for anyone and deletes anything, with a
// token that has comments:moderate.
func TestSeedScenario(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	alice, _ := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	bob, _ := h.UserToken(t, h.Bob, resourcetest.AllScopes...)
	admin, _ := h.UserToken(t, h.Admin, resourcetest.AllScopes...)
	readOnly, _ := h.UserToken(t, h.Alice, "comments:read")
	service := h.ClientToken(t, "comments:read", "comments:write")
	// The admin consented to an app for comments:write only (issue 22): the
	// token does not carry the role, and the app cannot moderate.
	adminWrite, _ := h.UserToken(t, h.Admin, "comments:read", "comments:write")
	// A token that carries the role without comments:moderate is refused
	// too: the API checks the scope, not only the issuer's choice of roles.
	roleOnly, _ := h.Mint(t, token.AccessRequest{Subject: h.Admin.ID, ClientID: resourcetest.WebClient,
		Scope: []string{"comments:write"}, Roles: h.Admin.Roles, Lifetime: resourcetest.TokenTTL})

	ids := map[string]string{} // step name → comment id
	post := []struct {
		name   string
		bearer string
		body   map[string]any
		status int
		author string // expected user_id on 201
	}{
		{"alice as herself", alice, map[string]any{"message": "hi from alice"}, 201, h.Alice.ID},
		{"alice naming herself", alice, map[string]any{"message": "again", "user_id": h.Alice.ID}, 201, h.Alice.ID},
		{"alice as bob", alice, map[string]any{"message": "I am bob", "user_id": h.Bob.ID}, 403, ""},
		{"bob as himself", bob, map[string]any{"message": "hi from bob"}, 201, h.Bob.ID},
		{"admin for bob", admin, map[string]any{"message": "on behalf of bob", "user_id": h.Bob.ID}, 201, h.Bob.ID},
		{"admin's comments:write app for bob", adminWrite, map[string]any{"message": "x", "user_id": h.Bob.ID}, 403, ""},
		{"admin role without comments:moderate for bob", roleOnly, map[string]any{"message": "x", "user_id": h.Bob.ID}, 403, ""},
		{"admin for nobody", admin, map[string]any{"message": "x", "user_id": "no-such-user"}, 400, ""},
		{"admin as admin", admin, map[string]any{"message": "from the admin"}, 201, h.Admin.ID},
		{"client credentials", service, map[string]any{"message": "machine"}, 403, ""},
		{"client credentials naming a user", service, map[string]any{"message": "machine", "user_id": h.Alice.ID}, 403, ""},
		{"without comments:write", readOnly, map[string]any{"message": "x"}, 403, ""},
	}
	for _, tc := range post {
		t.Run("post "+tc.name, func(t *testing.T) {
			resp := h.Do(t, http.MethodPost, resourcetest.CommentsPath, tc.bearer, tc.body)
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Code, tc.status, resp.Body)
			}
			if tc.status != 201 {
				return
			}
			if resp.JSON["user_id"] != tc.author || resp.JSON["message"] != tc.body["message"] {
				t.Fatalf("created %v, want user_id %s", resp.JSON, tc.author)
			}
			if len(resp.JSON) != 4 || resp.JSON["id"] == "" || resp.JSON["created_at"] == "" {
				t.Fatalf("response %v, want exactly id, user_id, message, created_at", resp.JSON)
			}
			id := resp.JSON["id"].(string)
			if loc := resp.Header().Get("Location"); loc != resourcetest.CommentsPath+"/"+url.PathEscape(id) {
				t.Errorf("Location = %q", loc)
			}
			ids[tc.name] = id
		})
	}

	list := h.Do(t, http.MethodGet, resourcetest.CommentsPath, bob, nil)
	if list.Code != 200 || len(list.JSON["comments"].([]any)) != 5 {
		t.Fatalf("list: %d %s, want the 5 comments", list.Code, list.Body)
	}
	if first := list.JSON["comments"].([]any)[0].(map[string]any); first["id"] != ids["admin as admin"] {
		t.Fatalf("newest first: got %v first", first)
	}

	del := []struct {
		name   string
		bearer string
		id     string
		status int
	}{
		{"alice deletes bob's (posted by admin)", alice, ids["admin for bob"], 403},
		{"bob deletes alice's", bob, ids["alice as herself"], 403},
		{"client credentials deletes", h.ClientToken(t, "comments:write"), ids["bob as himself"], 403},
		{"read-only token deletes", readOnly, ids["alice as herself"], 403},
		{"alice deletes her own", alice, ids["alice as herself"], 204},
		{"bob deletes his, posted by the admin", bob, ids["admin for bob"], 204},
		{"admin's comments:write app deletes alice's", adminWrite, ids["alice naming herself"], 403},
		{"admin role without comments:moderate deletes alice's", roleOnly, ids["alice naming herself"], 403},
		{"admin deletes alice's", admin, ids["alice naming herself"], 204},
		{"admin deletes bob's", admin, ids["bob as himself"], 204},
		{"deleted again", admin, ids["bob as himself"], 404},
		{"unknown id", admin, "no-such-comment", 404},
	}
	for _, tc := range del {
		t.Run("delete "+tc.name, func(t *testing.T) {
			resp := h.Do(t, http.MethodDelete, resourcetest.CommentsPath+"/"+tc.id, tc.bearer, nil)
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Code, tc.status, resp.Body)
			}
		})
	}
	if list := h.Do(t, http.MethodGet, resourcetest.CommentsPath, alice, nil); len(list.JSON["comments"].([]any)) != 1 {
		t.Fatalf("after deletes: %s, want only the admin's own comment", list.Body)
	}
}

func TestCommentValidation(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	alice, _ := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	long := strings.Repeat("é", api.DefaultMaxMessageLen+1)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		field       string // the first field error expected, "" for none
	}{
		{"not json", "text/plain", `{"message":"x"}`, 415, ""},
		{"no content type", "", `{"message":"x"}`, 415, ""},
		{"empty body", "application/json", ``, 400, ""},
		{"malformed", "application/json", `{"message":`, 400, ""},
		{"array", "application/json", `["x"]`, 400, ""},
		{"unknown member", "application/json", `{"message":"x","author":"bob"}`, 400, ""},
		{"trailing data", "application/json", `{"message":"x"} {}`, 400, ""},
		{"message missing", "application/json", `{}`, 400, "message"},
		{"message not a string", "application/json", `{"message":5}`, 400, ""},
		{"message blank", "application/json", `{"message":"  \n "}`, 400, "message"},
		{"message too long", "application/json", `{"message":"` + long + `"}`, 400, "message"},
		{"control character", "application/json", `{"message":"a\u0000b"}`, 400, "message"},
		{"escape sequence", "application/json", `{"message":"a\u001b[31mred"}`, 400, "message"},
		{"empty user_id", "application/json", `{"message":"x","user_id":""}`, 400, "user_id"},
		{"longest message", "application/json", `{"message":"` + long[len("é"):] + `"}`, 201, ""},
		{"newlines and tabs", "application/json; charset=utf-8", `{"message":"a\n\tb"}`, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, resourcetest.CommentsPath, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Authorization", "Bearer "+alice)
			resp := h.Serve(t, req)
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Code, tc.status, resp.Body)
			}
			if tc.status == 201 {
				return
			}
			checkProblem(t, resp, tc.status)
			if tc.field != "" {
				errs, _ := resp.JSON["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
					t.Fatalf("errors = %v, want one about %q", resp.JSON["errors"], tc.field)
				}
			}
		})
	}
}

// checkProblem asserts an RFC 9457 body.
func checkProblem(t *testing.T, resp testenv.Response, status int) {
	t.Helper()
	if ct := resp.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type = %q, want %s", ct, problem.ContentType)
	}
	if resp.JSON["type"] != "about:blank" || resp.JSON["status"] != float64(status) || resp.JSON["title"] != http.StatusText(status) {
		t.Errorf("problem = %v", resp.JSON)
	}
}

func TestCommentListPagination(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	alice, _ := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	for i := range 5 {
		if resp := h.Do(t, http.MethodPost, resourcetest.CommentsPath, alice, map[string]any{"message": fmt.Sprint(i)}); resp.Code != 201 {
			t.Fatal(resp.Body)
		}
	}
	var got []string
	next := resourcetest.CommentsPath + "?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than comments")
		}
		resp := h.Do(t, http.MethodGet, next, alice, nil)
		if resp.Code != 200 {
			t.Fatalf("%s: %d %s", next, resp.Code, resp.Body)
		}
		for _, c := range resp.JSON["comments"].([]any) {
			got = append(got, c.(map[string]any)["message"].(string))
		}
		next = ""
		if link := resp.Header().Get("Link"); link != "" {
			next = strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<")
			if resp.JSON["next_cursor"] == nil || !strings.HasSuffix(link, `; rel="next"`) {
				t.Fatalf("Link %q without next_cursor in %v", link, resp.JSON)
			}
		}
	}
	if strings.Join(got, ",") != "4,3,2,1,0" {
		t.Fatalf("paged through %v, want 4,3,2,1,0", got)
	}

	bad := []struct{ name, query, field string }{
		{"limit zero", "?limit=0", "limit"},
		{"limit too big", fmt.Sprintf("?limit=%d", api.MaxPageSize+1), "limit"},
		{"limit not a number", "?limit=ten", "limit"},
		{"forged cursor", "?cursor=abc", "cursor"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath+tc.query, alice, nil)
			if resp.Code != 400 {
				t.Fatalf("status %d, want 400", resp.Code)
			}
			checkProblem(t, resp, 400)
			if errs, _ := resp.JSON["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field {
				t.Fatalf("errors = %v, want one about %s", resp.JSON["errors"], tc.field)
			}
		})
	}
}

func TestMe(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	admin, _ := h.UserToken(t, h.Admin, "openid", "profile")
	service := h.ClientToken(t, "profile")
	tests := []struct {
		name   string
		bearer string
		want   map[string]any
	}{
		// The admin role is carried only through admin or comments:moderate.
		{"user", admin, map[string]any{"sub": h.Admin.ID, "username": "admin", "roles": []any{"user"},
			"scope": "openid profile", "client_id": resourcetest.WebClient}},
		{"client credentials", service, map[string]any{"sub": resourcetest.ServiceID, "username": "", "roles": []any{},
			"scope": "profile", "client_id": resourcetest.ServiceID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Do(t, http.MethodGet, resourcetest.MePath, tc.bearer, nil)
			if resp.Code != 200 || fmt.Sprint(resp.JSON) != fmt.Sprint(tc.want) {
				t.Fatalf("%d %v, want %v", resp.Code, resp.JSON, tc.want)
			}
		})
	}
	t.Run("deleted user", func(t *testing.T) {
		bob, _ := h.UserToken(t, h.Bob, "profile")
		if err := h.Store.DeleteUser(h.Ctx, h.Bob.ID); err != nil {
			t.Fatal(err)
		}
		resp := h.Do(t, http.MethodGet, resourcetest.MePath, bob, nil)
		if resp.Code != 401 || !strings.Contains(resp.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("%d %q, want 401 invalid_token", resp.Code, resp.Header().Get("WWW-Authenticate"))
		}
	})
}
