package storage

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// Comment is one message of the protected comments API (DESIGN.md §5).
type Comment struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"` // whom the comment is from
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
	// PostedBy is the subject that posted it: UserID itself, or an admin
	// posting on the user's behalf (kept for audit, not shown by the API).
	PostedBy string `json:"posted_by,omitempty"`
	ClientID string `json:"client_id,omitempty"` // the client the token was issued to
}

// CommentPage is one page of comments, newest first. Next is the cursor of
// the following page, empty on the last one.
type CommentPage struct {
	Comments []*Comment
	Next     string
}

// ErrBadCursor: the pagination cursor was not made by ListComments.
var ErrBadCursor = errors.New("storage: malformed comment cursor")

// CommentStore keeps comments. Ordering and pagination come from a sorted
// set scored by a per-store sequence number, so a page is one range read
// and pages never skip or repeat a comment when others are posted or
// deleted meanwhile.
type CommentStore interface {
	// CreateComment stores c, filling an empty ID and a zero CreatedAt.
	CreateComment(ctx context.Context, c *Comment) error
	GetComment(ctx context.Context, id string) (*Comment, error)
	// ListComments returns up to limit comments older than cursor (the
	// newest when cursor is empty); ErrBadCursor for a cursor it did not
	// make.
	ListComments(ctx context.Context, limit int, cursor string) (*CommentPage, error)
	DeleteComment(ctx context.Context, id string) error // ErrNotFound if unknown
}

var _ CommentStore = (*Store)(nil)

// Comment keys (p = prefix), one hash tag so each script runs on one
// Cluster slot:
//
//	p {comments}:byid   HASH  id -> Comment JSON
//	p {comments}:order  ZSET  id scored by its sequence number
//	p {comments}:seq    STRING the last sequence number (INCR)
func (s *Store) commentKeys() []string {
	return []string{s.prefix + "{comments}:byid", s.prefix + "{comments}:order", s.prefix + "{comments}:seq"}
}

// createComment: KEYS byid, order, seq; ARGV id, json.
var createComment = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'conflict'} end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
return {'ok'}
`)

// listComments: KEYS byid, order; ARGV max score ('+inf' or '(<seq>'),
// limit. Returns 'ok' then score/json pairs, newest first.
var listComments = redis.NewScript(`
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], '-inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {'ok'}
for i = 1, #ids, 2 do
  local v = redis.call('HGET', KEYS[1], ids[i])
  if v then
    out[#out+1] = ids[i+1]
    out[#out+1] = v
  end
end
return out
`)

// deleteComment: KEYS byid, order; ARGV id.
var deleteComment = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return {'nf'} end
redis.call('ZREM', KEYS[2], ARGV[1])
return {'ok'}
`)

// CreateComment stores c; ErrConflict if c.ID is taken.
func (s *Store) CreateComment(ctx context.Context, c *Comment) error {
	if c.ID == "" {
		c.ID = secret.NewToken(16)
	}
	if err := checkID("comment id", c.ID); err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now().UTC()
	}
	raw, err := encode(c, "comment")
	if err != nil {
		return err
	}
	_, status, err := s.runScript(ctx, createComment, s.commentKeys(), c.ID, raw)
	if err != nil {
		return err
	}
	if status == "conflict" {
		return ErrConflict
	}
	return nil
}

// GetComment returns the comment or ErrNotFound.
func (s *Store) GetComment(ctx context.Context, id string) (*Comment, error) {
	return hashGet[Comment](ctx, s.rdb, s.commentKeys()[0], id, "comment")
}

// ListComments returns one page, newest first. The cursor is the sequence
// number of the last comment returned, so the next page starts strictly
// below it.
func (s *Store) ListComments(ctx context.Context, limit int, cursor string) (*CommentPage, error) {
	if limit <= 0 {
		return nil, errors.New("storage: comment page limit must be positive")
	}
	maxScore := "+inf"
	if cursor != "" {
		seq, err := strconv.ParseUint(cursor, 10, 63)
		if err != nil || seq == 0 {
			return nil, ErrBadCursor
		}
		maxScore = "(" + strconv.FormatUint(seq, 10)
	}
	// One more than asked tells whether a next page exists.
	res, _, err := s.runScript(ctx, listComments, s.commentKeys()[:2], maxScore, limit+1)
	if err != nil {
		return nil, err
	}
	page := &CommentPage{Comments: make([]*Comment, 0, min(limit, (len(res)-1)/2))}
	var lastSeq string
	for i := 1; i+1 < len(res); i += 2 {
		if len(page.Comments) == limit {
			page.Next = lastSeq
			break
		}
		c, err := decode[Comment](str(res, i+1), "comment")
		if err != nil {
			return nil, err
		}
		page.Comments = append(page.Comments, c)
		lastSeq = str(res, i)
	}
	return page, nil
}

// DeleteComment removes the comment; ErrNotFound if unknown.
func (s *Store) DeleteComment(ctx context.Context, id string) error {
	_, status, err := s.runScript(ctx, deleteComment, s.commentKeys()[:2], id)
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	return nil
}
