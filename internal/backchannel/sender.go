package backchannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/tracing"
)

// Defaults of SenderConfig.
const (
	DefaultPoll     = time.Second
	DefaultTimeout  = 5 * time.Second
	DefaultRetryFor = time.Hour
	DefaultBatch    = 16
	maxBackoff      = 5 * time.Minute
	firstBackoff    = 2 * time.Second
)

// SenderConfig tunes the delivery worker; zero values take the defaults.
type SenderConfig struct {
	// Poll is how often the queue is looked at when nothing woke the
	// Sender: deliveries queued by other instances, and retries, wait at
	// most this long.
	Poll time.Duration
	// Timeout bounds one POST to a client.
	Timeout time.Duration
	// RetryFor is how long a delivery is retried after it was queued;
	// then it is given up (logged and counted).
	RetryFor time.Duration
	// Batch is how many deliveries one claim takes; they are sent in
	// parallel.
	Batch int
}

// QueueStore is the queue and the client lookup the Sender uses;
// *storage.Store is one.
type QueueStore interface {
	storage.LogoutQueue
	GetClient(ctx context.Context, id string) (*storage.Client, error)
}

var _ QueueStore = (*storage.Store)(nil)

// LogoutMinter signs logout tokens; *token.Minter is one.
type LogoutMinter interface {
	MintLogout(ctx context.Context, c token.LogoutClaims) (string, error)
}

var _ LogoutMinter = (*token.Minter)(nil)

// SenderDeps are what NewSender needs.
type SenderDeps struct {
	Config SenderConfig
	Store  QueueStore
	Minter LogoutMinter
	// Outbound is the guard every POST goes through: no internal
	// destination unless the configuration allows it, no redirect,
	// bounded time and size.
	Outbound *outbound.Guard
	// Metrics registers oauth2d_backchannel_logout_deliveries_total; nil:
	// not registered.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Now     func() time.Time
	// TracerProvider traces each delivery (a trace of its own: no request
	// is waiting for it); nil: tracing off.
	TracerProvider trace.TracerProvider
}

// Sender delivers queued logout tokens. Run is its worker.
type Sender struct {
	cfg     SenderConfig
	store   QueueStore
	minter  LogoutMinter
	http    *http.Client
	outcome *prometheus.CounterVec
	log     *slog.Logger
	now     func() time.Time
	wake    chan struct{}
	tracer  trace.Tracer

	// delivered remembers the deliveries this sender sent but could not
	// remove from the queue (Redis failed the finish): when one comes due
	// again here it is removed without a second send.
	mu        sync.Mutex
	delivered map[string]time.Time // delivery id → when the memory may go
}

// maxDelivered bounds the remembered deliveries; past it the oldest
// memories go first, and such a delivery may be sent twice, as an RP
// must tolerate (a logout token is idempotent).
const maxDelivered = 10000

// Outcomes counted in the metric's outcome label.
const (
	OutcomeDelivered = "delivered" // the client answered 2xx
	OutcomeRetry     = "retry"     // failed (network, 5xx, 429); tried again later
	OutcomeRejected  = "rejected"  // the client refused the token (other 4xx); given up
	OutcomeExpired   = "expired"   // still failing after RetryFor; given up
	OutcomeDropped   = "dropped"   // the client is gone or no longer takes logout tokens
	OutcomeRefused   = "refused"   // the URI leads to an internal address the guard refuses; given up
)

// NewSender returns a Sender.
func NewSender(d SenderDeps) (*Sender, error) {
	if d.Store == nil || d.Minter == nil || d.Outbound == nil {
		return nil, errors.New("backchannel: sender needs a store, a minter and an outbound guard")
	}
	cfg := d.Config
	cfg.Poll = orDefault(cfg.Poll, DefaultPoll)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.RetryFor = orDefault(cfg.RetryFor, DefaultRetryFor)
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	s := &Sender{cfg: cfg, store: d.Store, minter: d.Minter, http: d.Outbound.Client(cfg.Timeout), log: d.Logger, now: d.Now,
		wake: make(chan struct{}, 1), delivered: map[string]time.Time{}, tracer: tracing.Tracer(d.TracerProvider)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.outcome = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oauth2d_backchannel_logout_deliveries_total",
		Help: "Back-channel logout token deliveries by outcome (delivered, retry, rejected, expired, dropped, refused).",
	}, []string{"outcome"})
	if d.Metrics != nil {
		if err := d.Metrics.Register(s.outcome); err != nil {
			return nil, fmt.Errorf("backchannel: metrics: %w", err)
		}
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Wake makes Run look at the queue now (something was just queued).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// lease outlasts a whole batch of POSTs, so no other instance claims a
// delivery while it is being sent.
func (s *Sender) lease() time.Duration { return 2*s.cfg.Timeout + 10*time.Second }

// Run delivers until ctx ends. A failing Redis is logged and tried again
// at the next poll; Run returns only when ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		for s.drainOnce(ctx) {
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// drainOnce claims and sends one batch; it reports whether the batch was
// full (more may be due).
func (s *Sender) drainOnce(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	ds, err := s.store.ClaimLogouts(ctx, s.now(), s.lease(), s.cfg.Batch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "backchannel: claim deliveries", "err", err)
		}
		return false
	}
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() { s.deliver(ctx, d) })
	}
	wg.Wait()
	return len(ds) == s.cfg.Batch
}

// deliver sends one logout token and settles the delivery.
func (s *Sender) deliver(ctx context.Context, d *storage.LogoutDelivery) {
	ctx, span := s.tracer.Start(ctx, "backchannel.deliver", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("oauth2d.client_id", d.ClientID), attribute.Int("oauth2d.backchannel.attempt", d.Attempts)))
	defer span.End()
	if s.sentBefore(d.ID) {
		if err := s.store.FinishLogout(ctx, d); err == nil || errors.Is(err, storage.ErrNotFound) {
			s.forget(d.ID)
		}
		return
	}
	client, err := s.store.GetClient(ctx, d.ClientID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && client.BackchannelLogoutURI == "" {
		s.settle(ctx, d, OutcomeDropped, "the client no longer takes logout tokens")
		return
	}
	if err == nil && d.CreatedAt.Before(client.CreatedAt) {
		// Queued for a deleted client of the same id: the one registered
		// since must not learn of that client's users.
		s.settle(ctx, d, OutcomeDropped, "queued for a deleted client of the same id")
		return
	}
	if err != nil {
		s.settle(ctx, d, OutcomeRetry, "load client: "+err.Error())
		return
	}
	raw, err := s.minter.MintLogout(ctx, token.LogoutClaims{Audience: d.ClientID, Subject: d.Subject, SessionID: d.SID, JTI: token.NewJTI()})
	if err != nil {
		s.settle(ctx, d, OutcomeRetry, "mint: "+err.Error())
		return
	}
	status, err := s.post(ctx, client.BackchannelLogoutURI, raw)
	switch {
	case errors.Is(err, outbound.ErrRefused):
		// The URI's host resolves to an internal address (it was
		// registered as a name, or the configuration changed): trying
		// again would only be refused again.
		s.settle(ctx, d, OutcomeRefused, err.Error())
	case err != nil:
		s.settle(ctx, d, OutcomeRetry, err.Error())
	case status >= 200 && status < 300:
		s.settle(ctx, d, OutcomeDelivered, "")
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		s.settle(ctx, d, OutcomeRetry, fmt.Sprintf("HTTP %d", status))
	default:
		s.settle(ctx, d, OutcomeRejected, fmt.Sprintf("HTTP %d", status))
	}
}

// post sends logout_token=raw (§2.5) and returns the status. The outbound
// guard's client bounds the exchange to the configured Timeout.
func (s *Sender) post(ctx context.Context, uri, raw string) (status int, err error) {
	ctx, span := tracing.Start(ctx, "backchannel.post")
	if span.IsRecording() {
		span.SetAttributes(attribute.String("server.address", hostOf(uri)))
	}
	defer func() {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		tracing.End(span, err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {raw}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// settle records the outcome: finished, or due again after a backoff that
// doubles with each attempt, until RetryFor has passed.
func (s *Sender) settle(ctx context.Context, d *storage.LogoutDelivery, outcome, why string) {
	now := s.now()
	if outcome == OutcomeRetry && now.Sub(d.CreatedAt) >= s.cfg.RetryFor {
		outcome = OutcomeExpired
	}
	s.outcome.WithLabelValues(outcome).Inc()
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("oauth2d.backchannel.outcome", outcome))
	if outcome != OutcomeDelivered && outcome != OutcomeDropped {
		span.SetStatus(codes.Error, why)
	}
	audit.Emit(ctx, audit.Event{Event: audit.BackchannelLogout, Outcome: outcome, Actor: "system", Subject: d.Subject, Client: d.ClientID, Reason: why, Resource: "logout_delivery:" + d.ID})
	attrs := []any{"client_id", d.ClientID, "attempt", d.Attempts, "outcome", outcome}
	var err error
	switch outcome {
	case OutcomeDelivered:
		s.log.DebugContext(ctx, "backchannel: logout token delivered", attrs...)
		err = s.store.FinishLogout(ctx, d)
	case OutcomeRetry:
		d.LastError = why
		s.log.WarnContext(ctx, "backchannel: logout token not delivered; will retry", append(attrs, "err", why)...)
		err = s.store.RetryLogout(ctx, d, now.Add(backoff(d.Attempts)))
	default:
		s.log.ErrorContext(ctx, "backchannel: logout token given up", append(attrs, "err", why)...)
		err = s.store.FinishLogout(ctx, d)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		if outcome == OutcomeDelivered {
			s.remember(d.ID, now.Add(s.cfg.RetryFor+s.lease()))
		}
		if ctx.Err() == nil {
			// The lease runs out and the delivery is claimed again.
			s.log.WarnContext(ctx, "backchannel: settle delivery", "client_id", d.ClientID, "err", err)
		}
	}
}

// hostOf is the host of a logout URI, for the span: the path may say more
// about the client than a trace needs to.
func hostOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Host
}

// remember notes that delivery id was sent and not yet removed.
func (s *Sender) remember(id string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.delivered) >= maxDelivered {
		now := s.now()
		for k, t := range s.delivered {
			if !t.After(now) {
				delete(s.delivered, k)
			}
		}
		if len(s.delivered) >= maxDelivered {
			var oldest string
			for k, t := range s.delivered {
				if oldest == "" || t.Before(s.delivered[oldest]) {
					oldest = k
				}
			}
			delete(s.delivered, oldest)
		}
	}
	s.delivered[id] = until
}

func (s *Sender) sentBefore(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.delivered[id]
	return ok && until.After(s.now())
}

func (s *Sender) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.delivered, id)
}

// backoff is 2s, 4s, 8s, … up to five minutes before attempt n+1.
func backoff(attempts int) time.Duration {
	d := firstBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
