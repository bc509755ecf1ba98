package backchannel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Store is the part of the data layer Logouts uses; *storage.Store is one.
type Store interface {
	storage.SessionLoginStore
	UserClients(ctx context.Context, userID string) ([]storage.UserClient, error)
	ForgetUserClients(ctx context.Context, userID string, cs []storage.UserClient) error
	EnqueueLogouts(ctx context.Context, ds []*storage.LogoutDelivery, at time.Time) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	ListConsents(ctx context.Context, userID string) ([]*storage.Consent, error)
	DeleteSession(ctx context.Context, idHash string) error
}

var _ Store = (*storage.Store)(nil)

// Logouts records which clients each signed-in session reached and queues
// the logout tokens owed to them when a session or a grant ends. It is safe
// for concurrent use.
type Logouts struct {
	store Store
	wake  func()
	log   *slog.Logger
	now   func() time.Time
}

// NewLogouts returns a Logouts. wake (may be nil) is called after each
// enqueue so that this instance's Sender need not wait for its next poll.
func NewLogouts(store Store, wake func(), logger *slog.Logger, now func() time.Time) (*Logouts, error) {
	if store == nil {
		return nil, errors.New("backchannel: needs a store")
	}
	if wake == nil {
		wake = func() {}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Logouts{store: store, wake: wake, log: logger, now: now}, nil
}

// SessionStarted records a new signed-in session so that its sid can be
// ended and its clients told later. A user who already has
// storage.MaxUserSessions sessions loses the oldest, ended as a logout
// ends them (their clients are told).
func (l *Logouts) SessionStarted(ctx context.Context, sid, userID, sessionHash string, expiresAt time.Time) error {
	over, err := l.store.SaveSessionLogin(ctx, &storage.SessionLogin{SID: sid, UserID: userID, SessionHash: sessionHash, ExpiresAt: expiresAt})
	if err != nil {
		return err
	}
	for _, old := range over {
		if _, err := l.EndSession(ctx, old); err != nil {
			return err
		}
	}
	return nil
}

// EndSession ends the browser session sid on the server, wherever its
// cookie is, tells its clients, and reports whether it was still going.
// RP-initiated logout without the browser's cookie uses it.
func (l *Logouts) EndSession(ctx context.Context, sid string) (bool, error) {
	login, err := l.store.GetSessionLogin(ctx, sid)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backchannel: %w", err)
	}
	// The clients told of this session are then forgotten for it, so
	// that an administrator's sign-out does not tell them of it again
	// (UserSignedOut). What is remembered is read before they are told:
	// an entry written since stays. Failing to read or forget costs them
	// a second token for an ended session, not the user their sign-out.
	var remembered []storage.UserClient
	if len(login.Clients) > 0 {
		if remembered, err = l.store.UserClients(ctx, login.UserID); err != nil {
			l.log.WarnContext(ctx, "backchannel: read the user's clients; an administrator's sign-out may tell them of this session again",
				"err", err)
		}
	}
	told, err := l.end(ctx, []*storage.SessionLogin{login}, nil)
	if err != nil {
		return false, err
	}
	if err := l.forgetTold(ctx, login.UserID, remembered, told); err != nil {
		l.log.WarnContext(ctx, "backchannel: forget the clients told of the session; an administrator's sign-out may tell them of it again",
			"err", err)
	}
	return true, nil
}

// UserSignedOut is called when an administrator deletes the user or
// revokes their tokens: every browser session of the user ends, and every
// client that signed in through one of them, that the user consented to,
// or that the user signed in to while its session there may still last
// (storage.UserClientStore: its session may outlive ours) is told: with
// the sid of each live session it signed in through; a client that
// requires a sid also with the sid of each ended session it is
// remembered for; any other client not told of a live session, once,
// with the user's sub alone. No (client, sid) is told twice in one call.
func (l *Logouts) UserSignedOut(ctx context.Context, userID string) error {
	logins, err := l.store.UserSessionLogins(ctx, userID)
	if err != nil {
		return fmt.Errorf("backchannel: %w", err)
	}
	consents, err := l.store.ListConsents(ctx, userID)
	if err != nil {
		return fmt.Errorf("backchannel: %w", err)
	}
	remembered, err := l.store.UserClients(ctx, userID)
	if err != nil {
		return fmt.Errorf("backchannel: %w", err)
	}
	subj := &subjectLogout{userID: userID, remembered: remembered}
	for _, c := range consents {
		// A consent given to a deleted client of the same id tells the
		// client registered since of nobody.
		if client, ok := l.receiver(ctx, c.ClientID); ok && client.OwnsGrant(c.ClientGeneration) {
			subj.clients = append(subj.clients, c.ClientID)
		}
	}
	for _, c := range remembered {
		subj.clients = append(subj.clients, c.ClientID)
	}
	told, err := l.end(ctx, logins, subj)
	if err != nil {
		return err
	}
	return l.forgetTold(ctx, userID, remembered, told)
}

// forgetTold forgets the user's remembered entries that told covers:
// every entry of a client told that the user is signed out (sub alone:
// nothing of theirs is left to end), and each entry (client, sid) whose
// session the client was told of. A client told only of some sessions
// keeps its other entries: its session there may be an older one.
// remembered is what was read before told was queued.
func (l *Logouts) forgetTold(ctx context.Context, userID string, remembered []storage.UserClient, told *toldClients) error {
	var forget []storage.UserClient
	for _, c := range remembered {
		if told.sub[c.ClientID] || c.SID != "" && told.sids[clientSID{c.ClientID, c.SID}] {
			forget = append(forget, c)
		}
	}
	if err := l.store.ForgetUserClients(ctx, userID, forget); err != nil {
		return fmt.Errorf("backchannel: %w", err)
	}
	return nil
}

// GrantEnded is called when the user withdrew consent from clientID: the
// client is told, once for each of the user's sessions it signed in
// through, or once for the user when there is none. The browser sessions
// themselves go on.
func (l *Logouts) GrantEnded(ctx context.Context, userID, clientID string) error {
	// Most clients take no logout tokens: ask that before reading the
	// user's sessions.
	client, ok := l.receiver(ctx, clientID)
	if !ok {
		return nil
	}
	logins, err := l.store.UserSessionLogins(ctx, userID)
	if err != nil {
		return fmt.Errorf("backchannel: %w", err)
	}
	now := l.now()
	var ds []*storage.LogoutDelivery
	for _, login := range logins {
		if login.SignedIn(client) {
			ds = append(ds, sessionDelivery(login.UserID, login.SID, clientID, now))
		}
	}
	if len(ds) == 0 && !client.BackchannelLogoutSessionRequired {
		ds = append(ds, subjectDelivery(userID, clientID, now))
	}
	return l.enqueue(ctx, ds)
}

// subjectLogout: besides the sessions, these clients are told that the
// user (not one session) is signed out, and the remembered sessions of
// those that require a sid are told.
type subjectLogout struct {
	userID     string
	clients    []string // may repeat
	remembered []storage.UserClient
}

// clientSID is one (client, sid) told.
type clientSID struct{ clientID, sid string }

// toldClients is what one call of end queued.
type toldClients struct {
	reached map[string]bool    // the clients queued any token
	sub     map[string]bool    // the clients queued a sub-only token
	sids    map[clientSID]bool // the sessions each client was told of
}

// end ends the browser sessions of logins, queues a delivery for every
// client of each that takes logout tokens (and those subj adds), and then
// forgets the sessions. Deliveries are queued before anything is
// forgotten and their ids are derived from what they are about, so a
// retried call queues nothing twice and a failed one loses nothing.
func (l *Logouts) end(ctx context.Context, logins []*storage.SessionLogin, subj *subjectLogout) (*toldClients, error) {
	now := l.now()
	var ds []*storage.LogoutDelivery
	told := &toldClients{reached: map[string]bool{}, sub: map[string]bool{}, sids: map[clientSID]bool{}}
	// A user's sessions mostly reached the same few clients: each is
	// loaded once per call, not once per session.
	loaded := map[string]*storage.Client{} // nil: takes no logout tokens
	receiver := func(clientID string) (*storage.Client, bool) {
		if c, seen := loaded[clientID]; seen {
			return c, c != nil
		}
		c, ok := l.receiver(ctx, clientID)
		if !ok {
			c = nil
		}
		loaded[clientID] = c
		return c, ok
	}
	tellSession := func(userID, sid, clientID string) {
		ds = append(ds, sessionDelivery(userID, sid, clientID, now))
		told.reached[clientID] = true
		told.sids[clientSID{clientID, sid}] = true
	}
	for _, login := range logins {
		for _, clientID := range login.Clients {
			// A deleted client of the same id signed in, not this one.
			if client, ok := receiver(clientID); ok && login.SignedIn(client) && !told.sids[clientSID{clientID, login.SID}] {
				tellSession(login.UserID, login.SID, clientID)
			}
		}
	}
	if subj != nil {
		// A client that requires a sid hears of each session it signed
		// in through that ended before (a live one was told above).
		for _, c := range subj.remembered {
			if c.SID == "" || told.sids[clientSID{c.ClientID, c.SID}] {
				continue
			}
			if client, ok := receiver(c.ClientID); ok && client.BackchannelLogoutSessionRequired {
				tellSession(subj.userID, c.SID, c.ClientID)
			}
		}
		for _, clientID := range subj.clients {
			if told.reached[clientID] {
				continue
			}
			if client, ok := receiver(clientID); ok && !client.BackchannelLogoutSessionRequired {
				ds = append(ds, subjectDelivery(subj.userID, clientID, now))
				told.reached[clientID] = true
				told.sub[clientID] = true
			}
		}
	}
	if err := l.enqueue(ctx, ds); err != nil {
		return nil, err
	}
	for _, login := range logins {
		if login.SessionHash != "" {
			if err := l.store.DeleteSession(ctx, login.SessionHash); err != nil {
				return nil, fmt.Errorf("backchannel: end session: %w", err)
			}
		}
		if err := l.store.DeleteSessionLogin(ctx, login.UserID, login.SID); err != nil {
			return nil, fmt.Errorf("backchannel: %w", err)
		}
	}
	return told, nil
}

// receiver returns the client if it takes logout tokens.
func (l *Logouts) receiver(ctx context.Context, clientID string) (*storage.Client, bool) {
	c, err := l.store.GetClient(ctx, clientID)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			l.log.WarnContext(ctx, "backchannel: load client; it is not told of the logout", "client_id", clientID, "err", err)
		}
		return nil, false
	}
	return c, c.BackchannelLogoutURI != ""
}

func (l *Logouts) enqueue(ctx context.Context, ds []*storage.LogoutDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	if err := l.store.EnqueueLogouts(ctx, ds, l.now()); err != nil {
		return fmt.Errorf("backchannel: %w", err)
	}
	l.wake()
	return nil
}

// sessionDelivery tells clientID that the user's session sid ended. A
// sid ends once, so (client, sid) identifies the delivery.
func sessionDelivery(userID, sid, clientID string, now time.Time) *storage.LogoutDelivery {
	return &storage.LogoutDelivery{ID: secret.SHA256("sid\x00" + clientID + "\x00" + sid), ClientID: clientID,
		Subject: userID, SID: sid, CreatedAt: now}
}

// subjectDelivery tells clientID that every session of the user ended.
// The second is part of its identity: a retry of the same request queues
// it once, a later sign-out queues it again.
func subjectDelivery(userID, clientID string, now time.Time) *storage.LogoutDelivery {
	return &storage.LogoutDelivery{ID: secret.SHA256("sub\x00" + clientID + "\x00" + userID + "\x00" + strconv.FormatInt(now.Unix(), 10)),
		ClientID: clientID, Subject: userID, CreatedAt: now}
}
