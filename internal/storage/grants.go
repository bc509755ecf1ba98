package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MaxGrantFamilies bounds how many of a user's refresh-token families
// UserGrants reads: one person's apps and devices hold a handful, so a
// user with more live logins than this is a script's, and the account
// page stays one bounded read whatever it did. The families read are
// those that expire last (the newest logins); see GrantList.Partial.
const MaxGrantFamilies = 500

// UserGrants lists what the user has granted, by client: the remembered
// consents and the clients of the user's live refresh-token families,
// which a first-party client (consent skipped) or a consent not
// remembered leave without a consent record. It only reads.
//
// The families come from the user's index, the MaxGrantFamilies that
// expire last (the newest logins) and those an older version indexed in
// the legacy hash, each then read from its own record in one pipeline
// (the records live in different slots); a family counts when its record
// is there, unrevoked, of this user and not past its absolute expiry on
// the store's clock.
func (s *Store) UserGrants(ctx context.Context, userID string) (*GrantList, error) {
	consents, err := s.ListConsents(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids, partial, err := s.grantFamilyIDs(ctx, userID)
	if err != nil {
		return nil, err
	}
	fams, err := s.liveFamilies(ctx, userID, ids)
	if err != nil {
		return nil, err
	}
	consents, fams, err = s.ownedByCurrentClients(ctx, consents, fams)
	if err != nil {
		return nil, err
	}
	list := &GrantList{Partial: partial}
	// Grants grow in a slice, so they are found again by index: a
	// pointer into it would go stale at the next append.
	index := make(map[string]int, len(consents))
	at := func(clientID string) *Grant {
		i, ok := index[clientID]
		if !ok {
			list.Grants = append(list.Grants, Grant{ClientID: clientID})
			i = len(list.Grants) - 1
			index[clientID] = i
		}
		return &list.Grants[i]
	}
	for _, c := range consents {
		g := at(c.ClientID)
		g.Remembered, g.GrantedAt = true, c.GrantedAt
		g.Scope = unionScope(g.Scope, c.Scope)
	}
	for _, f := range fams {
		g := at(f.ClientID)
		g.Scope = unionScope(g.Scope, f.Scope)
		g.Families++
		if f.AuthTime.After(g.LastAuth) {
			g.LastAuth = f.AuthTime
		}
		if !g.Remembered && (g.GrantedAt.IsZero() || f.CreatedAt.Before(g.GrantedAt)) {
			g.GrantedAt = f.CreatedAt
		}
	}
	slices.SortFunc(list.Grants, func(a, b Grant) int { return strings.Compare(a.ClientID, b.ClientID) })
	return list, nil
}

// grantFamilyIDs returns the ids of the user's families that can still
// be alive, at most MaxGrantFamilies, and whether there were more.
func (s *Store) grantFamilyIDs(ctx context.Context, userID string) (ids []string, partial bool, err error) {
	now := s.now()
	// One more than the cap tells whether there are more.
	ids, err = s.rdb.ZRevRangeByScore(ctx, s.kUserFamilies(userID), &redis.ZRangeBy{
		Min: fmt.Sprint(unixMs(now) + 1), Max: "+inf", Count: MaxGrantFamilies + 1}).Result()
	if err != nil {
		return nil, false, fmt.Errorf("storage: user grants: %w", err)
	}
	legacy, _, err := s.legacyUserFamilies(ctx, userID, now)
	if err != nil {
		return nil, false, err
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range legacy {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) > MaxGrantFamilies {
		return ids[:MaxGrantFamilies], true, nil
	}
	return ids, false, nil
}

// liveFamilies reads the families ids in one pipeline and returns those
// that are live and the user's, oldest first.
func (s *Store) liveFamilies(ctx context.Context, userID string, ids []string) ([]*RefreshFamily, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, 0, len(ids))
	// The embedded server reads its in-memory pipe 4 KiB at a time and
	// answers each command before it reads on, so a longer pipeline would
	// wait forever on both ends: it is asked one family at a time, which
	// costs little in-process.
	batch := len(ids)
	if s.mini != nil {
		batch = 1
	}
	for chunk := range slices.Chunk(ids, batch) {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range chunk {
				cmds = append(cmds, p.HMGet(ctx, s.kFamily(id), "c", "u", "s", "a", "m", "e", "r", "g"))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("storage: user grants: %w", err)
		}
	}
	now := unixMs(s.now())
	var out []*RefreshFamily
	for i, id := range ids {
		v := cmds[i].Val()
		if str(v, 1) != userID || str(v, 0) == "" || str(v, 6) == "1" {
			continue // gone, revoked, or (never expected) another user's
		}
		f := &RefreshFamily{ID: id, ClientID: str(v, 0), UserID: userID, Scope: strings.Fields(str(v, 2)),
			AuthTime: fromMs(str(v, 3)), CreatedAt: fromMs(str(v, 4)), ExpiresAt: fromMs(str(v, 5)),
			ClientGeneration: str(v, 7)}
		if unixMs(f.ExpiresAt) <= now {
			continue
		}
		out = append(out, f)
	}
	// Oldest first, so that a grant's scope lists what its first login
	// was granted first, the same on every read.
	slices.SortFunc(out, func(a, b *RefreshFamily) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// unionScope appends to have the scopes of add it lacks, in add's order.
func unionScope(have, add []string) []string {
	for _, sc := range add {
		if !slices.Contains(have, sc) {
			have = append(have, sc)
		}
	}
	return have
}

// ownedByCurrentClients drops the consents and families made to an
// earlier registration of their client's id: one given to a deleted
// client whose id was registered again holds nothing (Client.OwnsGrant)
// and is not listed. Those of a client that is gone are kept, so that the
// person still sees and may remove them. One HMGET reads every client
// involved.
func (s *Store) ownedByCurrentClients(ctx context.Context, consents []*Consent, fams []*RefreshFamily) ([]*Consent, []*RefreshFamily, error) {
	var ids []string
	for _, c := range consents {
		ids = append(ids, c.ClientID)
	}
	for _, f := range fams {
		ids = append(ids, f.ClientID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return consents, fams, nil
	}
	raws, err := s.rdb.HMGet(ctx, s.kClients(), ids...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("storage: user grants: clients: %w", classify(err))
	}
	current := make(map[string]*Client, len(ids))
	for i, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			continue // deleted
		}
		c, err := decode[Client](str, "client")
		if err != nil {
			return nil, nil, err
		}
		current[ids[i]] = c
	}
	consents = slices.DeleteFunc(consents, func(c *Consent) bool {
		cl := current[c.ClientID]
		return cl != nil && !cl.OwnsGrant(c.ClientGeneration)
	})
	fams = slices.DeleteFunc(fams, func(f *RefreshFamily) bool {
		cl := current[f.ClientID]
		return cl != nil && !cl.OwnsGrant(f.ClientGeneration)
	})
	return consents, fams, nil
}
