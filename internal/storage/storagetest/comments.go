package storagetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func testComments(t *testing.T, newStore NewStore) {
	t.Run("create get delete", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		c := &storage.Comment{UserID: "u1", Message: "hello", PostedBy: "admin1", ClientID: "web"}
		if err := s.CreateComment(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c.ID == "" || c.CreatedAt.IsZero() {
			t.Fatalf("CreateComment did not fill id and time: %+v", c)
		}
		got, err := s.GetComment(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != "u1" || got.Message != "hello" || got.PostedBy != "admin1" || !got.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("GetComment = %+v, want %+v", got, c)
		}
		if err := s.CreateComment(ctx, &storage.Comment{ID: c.ID, UserID: "u2", Message: "x"}); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("create with a taken id: %v, want ErrConflict", err)
		}
		if err := s.DeleteComment(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		for name, err := range map[string]error{
			"get deleted":    func() error { _, err := s.GetComment(ctx, c.ID); return err }(),
			"delete deleted": s.DeleteComment(ctx, c.ID),
			"delete unknown": s.DeleteComment(ctx, "nope"),
		} {
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
		page, err := s.ListComments(ctx, 10, "")
		if err != nil || len(page.Comments) != 0 || page.Next != "" {
			t.Fatalf("list after delete = %+v, %v; want empty", page, err)
		}
	})
	t.Run("pagination", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for i := range 7 {
			if err := s.CreateComment(ctx, &storage.Comment{UserID: "u", Message: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name  string
			limit int
			pages [][]string // messages per page, newest first
		}{
			{"pages of 3", 3, [][]string{{"6", "5", "4"}, {"3", "2", "1"}, {"0"}}},
			{"exact fit", 7, [][]string{{"6", "5", "4", "3", "2", "1", "0"}}},
			{"larger than all", 50, [][]string{{"6", "5", "4", "3", "2", "1", "0"}}},
			{"one by one", 1, [][]string{{"6"}, {"5"}, {"4"}, {"3"}, {"2"}, {"1"}, {"0"}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				cursor := ""
				for i, want := range tc.pages {
					page, err := s.ListComments(ctx, tc.limit, cursor)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, c := range page.Comments {
						got = append(got, c.Message)
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("page %d = %v, want %v", i, got, want)
					}
					last := i == len(tc.pages)-1
					if (page.Next == "") != last {
						t.Fatalf("page %d: next cursor %q, last page %v", i, page.Next, last)
					}
					cursor = page.Next
				}
			})
		}
	})
	t.Run("pages stay stable under writes", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		var ids []string
		for i := range 4 {
			c := &storage.Comment{UserID: "u", Message: fmt.Sprint(i)}
			if err := s.CreateComment(ctx, c); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		first, err := s.ListComments(ctx, 2, "")
		if err != nil {
			t.Fatal(err)
		}
		// A new comment and the deletion of one already shown must neither
		// repeat nor skip anything on the next page.
		if err := s.CreateComment(ctx, &storage.Comment{UserID: "u", Message: "new"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteComment(ctx, ids[3]); err != nil {
			t.Fatal(err)
		}
		second, err := s.ListComments(ctx, 2, first.Next)
		if err != nil {
			t.Fatal(err)
		}
		if len(second.Comments) != 2 || second.Comments[0].Message != "1" || second.Comments[1].Message != "0" || second.Next != "" {
			t.Fatalf("second page = %+v, want messages 1, 0 and no next", second)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for _, cursor := range []string{"abc", "-1", "0", "1.5", "99999999999999999999999"} {
			t.Run(cursor, func(t *testing.T) {
				if _, err := s.ListComments(ctx, 5, cursor); !errors.Is(err, storage.ErrBadCursor) {
					t.Fatalf("ListComments(cursor %q) = %v, want ErrBadCursor", cursor, err)
				}
			})
		}
	})
}
