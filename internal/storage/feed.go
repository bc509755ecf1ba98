package storage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The revocation feed (issue 19): what resource servers outside this
// process follow to refuse revoked tokens without asking per request.
//
// RevokeJTI and SetCutoff append an entry to a Redis Stream in the same
// script that changes the state, so an entry exists exactly when the
// state changed; each stream shares the slot of the keys it describes
// (keys.go), which is why there are two: the deny set and the cutoffs
// live in two slots, and their names predate the feed (renaming them
// would forget the revocations stored under the old names). A cursor
// names a position in both.
//
// A follower starts from RevocationSnapshot and then asks
// RevocationsSince with the cursor of its last answer. The streams are
// capped (FeedMaxLen); a cursor whose position was trimmed away, or that
// names no entry at all (Redis lost its data, a malformed cursor), is
// answered "take a snapshot": the follower cannot tell what it missed.

// FeedMaxLen is about how many entries each revocation stream keeps
// (XADD MAXLEN ~, so a little more at times). A follower that falls
// further behind than this takes a snapshot instead: it is how many
// revocations (of jtis, and separately of cutoffs) may happen while a
// follower is away. At about 100 bytes an entry, each stream stays under
// roughly 10 MB.
const FeedMaxLen = 100_000

// FeedBatch bounds the entries of each stream one RevocationsSince call
// returns; a follower further behind asks again at once.
const FeedBatch = 1000

// RevocationEvents are revocations as the feed reports them: denied jtis
// and cutoffs, each with the times the state holds for it after the
// change (the later of each, as RevokeJTI and SetCutoff keep them).
type RevocationEvents struct {
	JTIs    []RevokedJTI
	Cutoffs []Cutoff
}

// Empty reports whether there is nothing in e.
func (e RevocationEvents) Empty() bool { return len(e.JTIs) == 0 && len(e.Cutoffs) == 0 }

// streamStart is the position before every entry: the cursor of a stream
// that had none when the snapshot was taken (see after).
const streamStart = "0-0"

// feedCursor is the pair of stream positions a cursor string carries.
type feedCursor struct{ jtis, cutoffs string }

// A stream id is two unsigned 64-bit integers.
var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

func (c feedCursor) String() string { return c.jtis + "." + c.cutoffs }

func parseFeedCursor(s string) (feedCursor, bool) {
	j, cut, ok := strings.Cut(s, ".")
	if !ok || !streamID.MatchString(j) || !streamID.MatchString(cut) {
		return feedCursor{}, false
	}
	return feedCursor{jtis: j, cutoffs: cut}, true
}

// RevocationSnapshot returns the whole revocation state and the cursor
// to follow it from. The cursor is read before the state: what happens
// in between is in the state and is reported again after the cursor,
// which a follower that merges (keeps the later times) takes in its
// stride, while the other order could lose it.
func (s *Store) RevocationSnapshot(ctx context.Context) (RevocationEvents, string, error) {
	var jtiTail, cutTail *redis.XMessageSliceCmd
	// Each command's own error is read below; Pipelined's is only the first.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		jtiTail = p.XRevRangeN(ctx, s.kJTIFeed(), "+", "-", 1)
		cutTail = p.XRevRangeN(ctx, s.kCutoffFeed(), "+", "-", 1)
		return nil
	})
	var c feedCursor
	for _, t := range []struct {
		cmd *redis.XMessageSliceCmd
		pos *string
	}{{jtiTail, &c.jtis}, {cutTail, &c.cutoffs}} {
		last, err := t.cmd.Result()
		if err != nil {
			return RevocationEvents{}, "", fmt.Errorf("storage: revocation feed tail: %w", err)
		}
		*t.pos = streamStart
		if len(last) > 0 {
			*t.pos = last[0].ID
		}
	}
	jtis, err := s.RevokedJTIs(ctx)
	if err != nil {
		return RevocationEvents{}, "", err
	}
	cuts, err := s.Cutoffs(ctx)
	if err != nil {
		return RevocationEvents{}, "", err
	}
	var ev RevocationEvents
	for jti, exp := range jtis {
		ev.JTIs = append(ev.JTIs, RevokedJTI{JTI: jti, ExpiresAt: exp})
	}
	for _, cut := range cuts {
		ev.Cutoffs = append(ev.Cutoffs, cut)
	}
	return ev, c.String(), nil
}

// RevocationsSince returns what was revoked after cursor (at most
// FeedBatch entries of each stream) and the cursor that follows them,
// cursor itself when nothing was. snapshot is true, with nothing else,
// when cursor cannot be followed: malformed, trimmed away, or naming an
// entry the streams do not hold (Redis lost its data).
func (s *Store) RevocationsSince(ctx context.Context, cursor string) (ev RevocationEvents, next string, snapshot bool, err error) {
	c, ok := parseFeedCursor(cursor)
	if !ok {
		return RevocationEvents{}, "", true, nil
	}
	var jtiCmd, cutCmd *redis.XMessageSliceCmd
	// Inclusive of the cursor's own entry: finding it proves that nothing
	// after it was trimmed (trimming removes the oldest entries first).
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		jtiCmd = p.XRangeN(ctx, s.kJTIFeed(), c.jtis, "+", FeedBatch+1)
		cutCmd = p.XRangeN(ctx, s.kCutoffFeed(), c.cutoffs, "+", FeedBatch+1)
		return nil
	})
	jtiMsgs, jtiOK, err := after(jtiCmd, c.jtis)
	if err != nil {
		return RevocationEvents{}, "", false, err
	}
	cutMsgs, cutOK, err := after(cutCmd, c.cutoffs)
	if err != nil {
		return RevocationEvents{}, "", false, err
	}
	if !jtiOK || !cutOK {
		return RevocationEvents{}, "", true, nil
	}
	for _, m := range jtiMsgs {
		c.jtis = m.ID
		if r, ok := jtiEntry(m.Values); ok {
			ev.JTIs = append(ev.JTIs, r)
		} else {
			s.log.Warn("storage: ignoring malformed revocation feed entry", "id", m.ID)
		}
	}
	for _, m := range cutMsgs {
		c.cutoffs = m.ID
		if cut, ok := cutoffEntry(m.Values); ok {
			ev.Cutoffs = append(ev.Cutoffs, cut)
		} else {
			s.log.Warn("storage: ignoring malformed cutoff feed entry", "id", m.ID)
		}
	}
	return ev, c.String(), false, nil
}

// after reads an XRANGE that started at pos inclusive and returns the
// entries after pos (at most FeedBatch); ok is false when pos cannot be
// followed. A position is an entry, which must still be there; or the
// start of a stream that was empty, which can be followed while the
// stream is empty or begins with its first entry ever (appendToFeed).
func after(cmd *redis.XMessageSliceCmd, pos string) (msgs []redis.XMessage, ok bool, err error) {
	msgs, err = cmd.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, fmt.Errorf("storage: revocation feed: %w", err)
	}
	switch {
	case pos == streamStart:
		if len(msgs) > 0 && msgs[0].Values["first"] != "1" {
			return nil, false, nil
		}
		return msgs[:min(len(msgs), FeedBatch)], true, nil
	case len(msgs) == 0 || msgs[0].ID != pos:
		return nil, false, nil
	default:
		return msgs[1:], true, nil
	}
}

// Entry fields: a jti stream entry is jti, exp (ms); a cutoff stream
// entry is p (the principal), nbf, until (ms); the first entry of a
// stream also has first=1. The scripts in revocations.go write them.
func jtiEntry(v map[string]any) (RevokedJTI, bool) {
	jti, _ := v["jti"].(string)
	exp, _ := v["exp"].(string)
	r := RevokedJTI{JTI: jti, ExpiresAt: fromMs(exp)}
	return r, jti != "" && !r.ExpiresAt.IsZero()
}

func cutoffEntry(v map[string]any) (Cutoff, bool) {
	p, _ := v["p"].(string)
	nbf, _ := v["nbf"].(string)
	until, _ := v["until"].(string)
	c := cutoffOf(p, nbf, until)
	return c, c.valid()
}
