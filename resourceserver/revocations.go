package resourceserver

import (
	"sync"
	"time"
)

// The kinds of Cutoff.
const (
	CutoffSubject = "sub"    // every token of a subject (user)
	CutoffClient  = "client" // every token of a client
)

// Cutoff revokes every token of a subject or a client issued before
// NotBefore ("sign out everywhere", a deleted client). Until is when the
// last such token has expired and the cutoff can be forgotten.
type Cutoff struct {
	Kind      string // CutoffSubject or CutoffClient; other kinds are ignored
	ID        string
	NotBefore time.Time
	Until     time.Time
}

// cutoff is a principal's "revoked before" time and when it can go.
type cutoff struct {
	notBefore time.Time
	until     time.Time
}

// RevocationList is an in-memory copy of the issuer's revocation state:
// denied jtis and per-subject and per-client cutoffs. It only grows
// between prunes: revocations are never undone, so a resync merges rather
// than replaces, and a revocation that arrives during a resync cannot be
// lost. It is safe for concurrent use; the FeedFollower and oauth2d's
// Redis follower each keep one.
type RevocationList struct {
	mu        sync.RWMutex
	jtis      map[string]time.Time // jti → the token's exp
	bySubject map[string]cutoff
	byClient  map[string]cutoff
}

// NewRevocationList returns an empty list.
func NewRevocationList() *RevocationList {
	return &RevocationList{jtis: map[string]time.Time{}, bySubject: map[string]cutoff{}, byClient: map[string]cutoff{}}
}

// Revoked reports whether c was revoked: its jti is denied, or it was
// issued before a cutoff of its subject or its client.
func (d *RevocationList) Revoked(c *Claims) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if _, ok := d.jtis[c.JTI]; ok {
		return true
	}
	if co, ok := d.bySubject[c.Subject]; ok && c.IssuedAt.Before(co.notBefore) {
		return true
	}
	if co, ok := d.byClient[c.ClientID]; ok && c.IssuedAt.Before(co.notBefore) {
		return true
	}
	return false
}

// DenyJTI revokes the token jti, which expires at exp.
func (d *RevocationList) DenyJTI(jti string, exp time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.denyLocked(jti, exp)
}

// DenyJTIs is DenyJTI for each of m (jti → exp).
func (d *RevocationList) DenyJTIs(m map[string]time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for jti, exp := range m {
		d.denyLocked(jti, exp)
	}
}

func (d *RevocationList) denyLocked(jti string, exp time.Time) {
	if old, ok := d.jtis[jti]; !ok || old.Before(exp) {
		d.jtis[jti] = exp
	}
}

// AddCutoff merges c, keeping the later times; a cutoff of an unknown
// kind is ignored (a newer issuer may publish kinds this one does not
// know).
func (d *RevocationList) AddCutoff(c Cutoff) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addCutoffLocked(c)
}

// AddCutoffs is AddCutoff for each of cs.
func (d *RevocationList) AddCutoffs(cs []Cutoff) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range cs {
		d.addCutoffLocked(c)
	}
}

func (d *RevocationList) addCutoffLocked(c Cutoff) {
	var into map[string]cutoff
	switch c.Kind {
	case CutoffSubject:
		into = d.bySubject
	case CutoffClient:
		into = d.byClient
	default:
		return
	}
	old := into[c.ID]
	if c.NotBefore.After(old.notBefore) {
		old.notBefore = c.NotBefore
	}
	if c.Until.After(old.until) {
		old.until = c.Until
	}
	into[c.ID] = old
}

// Prune drops entries whose tokens have all expired at now.
func (d *RevocationList) Prune(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for jti, exp := range d.jtis {
		if !exp.After(now) {
			delete(d.jtis, jti)
		}
	}
	for _, m := range []map[string]cutoff{d.bySubject, d.byClient} {
		for id, co := range m {
			if !co.until.After(now) {
				delete(m, id)
			}
		}
	}
}

// Size is the number of entries, for logs and tests.
func (d *RevocationList) Size() (jtis, cutoffs int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.jtis), len(d.bySubject) + len(d.byClient)
}
