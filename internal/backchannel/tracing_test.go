package backchannel

import (
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// TestSenderTracesEachDelivery: a delivery is a trace of its own, holding
// the logout token's signature, the POST and the delivery's Redis
// commands; the queue's polling is in no trace.
func TestSenderTracesEachDelivery(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	rp := newReceiver(t)
	f := newFixture(t, map[string]string{"app": rp.URL + "/bcl"})
	traced, err := storage.Open(context.Background(), storage.Options{URL: f.redis, Prefix: f.store.Prefix(),
		Logger: slog.New(slog.DiscardHandler), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = traced.Close() })
	s, err := NewSender(SenderDeps{Store: traced, Minter: token.NewMinter(f.keys, issuer, nil, f.clock.Now), Outbound: f.guard,
		Now: f.clock.Now, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, delivery("d1", "app"))
	s.drainOnce(context.Background())
	if len(rp.got()) != 1 {
		t.Fatal("not delivered")
	}

	got := spans.GetSpans()
	count := map[string]int{}
	var root tracetest.SpanStub
	for _, sp := range got {
		count[sp.Name]++
		if !sp.Parent.IsValid() {
			root = sp
		}
	}
	if count["backchannel.deliver"] != 1 || root.Name != "backchannel.deliver" {
		t.Fatalf("spans %v, want one root backchannel.deliver", count)
	}
	if !hasAttr(root.Attributes, attribute.String("oauth2d.backchannel.outcome", OutcomeDelivered)) ||
		!hasAttr(root.Attributes, attribute.String("oauth2d.client_id", "app")) {
		t.Errorf("delivery span attributes %v", root.Attributes)
	}
	for _, sp := range got {
		if sp.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("span %q outside the delivery's trace (the queue's polling?)", sp.Name)
		}
	}
	if count["token.sign"] != 1 || count["backchannel.post"] != 1 || len(got) < 4 {
		t.Errorf("spans %v, want the signature, the POST and Redis commands under the delivery", count)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}
