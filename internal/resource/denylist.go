package resource

import (
	"strings"
	"sync"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// cutoff is a principal's "revoked before" time and when it can go.
type cutoff struct {
	notBefore time.Time
	until     time.Time
}

// denyList is this instance's copy of the revocation state: denied jtis
// and per-subject and per-client cutoffs. It only grows between prunes:
// revocations are never undone, so a resync merges rather than replaces,
// and a message that arrives during a resync cannot be lost.
type denyList struct {
	mu        sync.RWMutex
	jtis      map[string]time.Time // jti → the token's exp
	bySubject map[string]cutoff
	byClient  map[string]cutoff
}

func newDenyList() *denyList {
	return &denyList{jtis: map[string]time.Time{}, bySubject: map[string]cutoff{}, byClient: map[string]cutoff{}}
}

// revoked reports whether c was revoked: its jti is denied, or it was
// issued before a cutoff of its subject or its client.
func (d *denyList) revoked(c *token.AccessClaims) bool {
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

func (d *denyList) addJTI(jti string, exp time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.jtis[jti]; !ok || old.Before(exp) {
		d.jtis[jti] = exp
	}
}

func (d *denyList) addJTIs(m map[string]time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for jti, exp := range m {
		if old, ok := d.jtis[jti]; !ok || old.Before(exp) {
			d.jtis[jti] = exp
		}
	}
}

// addCutoff keeps the later times; a principal of an unknown kind is
// ignored (a newer instance may publish kinds this one does not know).
func (d *denyList) addCutoff(c storage.Cutoff) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addCutoffLocked(c)
}

func (d *denyList) addCutoffs(m map[string]storage.Cutoff) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range m {
		d.addCutoffLocked(c)
	}
}

func (d *denyList) addCutoffLocked(c storage.Cutoff) {
	var into map[string]cutoff
	var id string
	if s, ok := strings.CutPrefix(c.Principal, storage.SubjectCutoff("")); ok {
		into, id = d.bySubject, s
	} else if s, ok := strings.CutPrefix(c.Principal, storage.ClientCutoff("")); ok {
		into, id = d.byClient, s
	} else {
		return
	}
	old := into[id]
	if c.NotBefore.After(old.notBefore) {
		old.notBefore = c.NotBefore
	}
	if c.Until.After(old.until) {
		old.until = c.Until
	}
	into[id] = old
}

// prune drops entries whose tokens have all expired at now.
func (d *denyList) prune(now time.Time) {
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

// size is the number of entries, for logs and tests.
func (d *denyList) size() (jtis, cutoffs int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.jtis), len(d.bySubject) + len(d.byClient)
}
