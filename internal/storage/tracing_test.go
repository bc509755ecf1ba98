package storage_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// TestTracingCoversEveryClient: within a trace, every command gets a span
// under the caller's, whichever client sends it: on a Cluster the writes
// that must never be re-sent go to a node client directly (noResend).
func TestTracingCoversEveryClient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) *testredis.Server
	}{
		{"single", func(t *testing.T) *testredis.Server { return testredis.New(t) }},
		{"cluster", func(t *testing.T) *testredis.Server { return testredis.Cluster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			rs := tc.server(t)
			s, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix, TracerProvider: tp})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			ctx, root := tp.Tracer("test").Start(context.Background(), "request")
			if err := s.CreateClient(ctx, &storage.Client{ID: "c1", GrantTypes: []string{"client_credentials"}}); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteClient(ctx, "c1"); err != nil { // noResend
				t.Fatal(err)
			}
			root.End()
			names := map[string]int{}
			for _, sp := range spans.GetSpans() {
				if sp.Name == "request" {
					continue
				}
				names[sp.Name]++
				if sp.SpanContext.TraceID() != root.SpanContext().TraceID() {
					t.Errorf("span %q outside the caller's trace", sp.Name)
				}
			}
			// Two scripts: the create, on the retrying client, and the
			// delete, on the client that never re-sends (runScriptOnce).
			if names["evalsha"]+names["eval"] < 2 {
				t.Errorf("redis spans %v, want the create script and the never-re-sent delete script", names)
			}
		})
	}
}
