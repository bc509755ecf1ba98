package storage

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// commentKeys are the keys the comment scripts take, in this order.
func (s *Store) commentKeys() []string {
	return []string{s.kCommentsByID(), s.kCommentsOrder(), s.kCommentsSeq()}
}

// createComment: KEYS byid, order, seq; ARGV id, json. A second delivery
// finds its own comment and answers 'ok' without taking a new number.
var createComment = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return {'ok'} end
if old then return {'conflict'} end
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
	return hashGet[Comment](ctx, s.rdb, s.kCommentsByID(), id, "comment")
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
	_, status, err := s.runScriptOnce(ctx, deleteComment, s.commentKeys()[:2], id)
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	return nil
}
