package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestTracingPasswordGrant: one password grant through the whole server
// is one trace whose root is the HTTP server span, with the Redis
// commands, the client secret and password checks and the signature as
// its descendants; the request's log lines carry its trace id.
func TestTracingPasswordGrant(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var logs syncBuffer
	cfg := config.Default()
	cfg.Log.Format = "json"
	s := webtest.New(t, webtest.Options{TracerProvider: tp, Logger: newLogger(&cfg, &logs)})
	passwordClient(t, s)

	spans.Reset() // seeding's commands ran outside any request
	tok := tokenRequest(s.URL, "password-app", "password-app-secret-0123456789", url.Values{"grant_type": {"password"},
		"username": {"alice"}, "password": {webtest.AlicePassword}, "scope": {"profile"}})
	if tok.status != 200 {
		t.Fatalf("password grant = %d %v", tok.status, tok.body)
	}

	got := spans.GetSpans().Snapshots()
	var root sdktrace.ReadOnlySpan
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range got {
		byID[sp.SpanContext().SpanID()] = sp
		if !sp.Parent().IsValid() {
			if root != nil {
				t.Fatalf("two root spans: %q and %q (a trace not started by a request)", root.Name(), sp.Name())
			}
			root = sp
		}
	}
	if root == nil || root.SpanKind() != trace.SpanKindServer || root.Name() != "POST /oauth2/token" {
		t.Fatalf("root span = %v, want the server span POST /oauth2/token; spans: %v", root, names(got))
	}
	count := map[string]int{}
	for _, sp := range got {
		if sp.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %q is in another trace", sp.Name())
		}
		// Every span reaches the root through its parents.
		for p := sp; p.SpanContext().SpanID() != root.SpanContext().SpanID(); {
			parent, ok := byID[p.Parent().SpanID()]
			if !ok {
				t.Fatalf("span %q: parent of %q not recorded", sp.Name(), p.Name())
			}
			p = parent
		}
		switch {
		case sp.InstrumentationScope().Name == "github.com/redis/go-redis/extra/redisotel":
			count["redis"]++
			for _, a := range sp.Attributes() {
				if a.Key == "db.statement" || a.Key == "db.query.text" {
					t.Errorf("redis span %q carries the command's arguments (%s)", sp.Name(), a.Key)
				}
			}
		default:
			count[sp.Name()]++
		}
	}
	// Two checks: the client's secret and alice's password.
	if count["redis"] == 0 || count["token.sign"] != 1 || count["secret.check"] != 2 {
		t.Errorf("spans by kind = %v, want redis commands, 1 token.sign, 2 secret.check; all: %v", count, names(got))
	}

	traceID := root.SpanContext().TraceID().String()
	var accessLogged bool
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "http request" {
			continue
		}
		accessLogged = true
		if rec["trace_id"] != traceID || rec["span_id"] == "" {
			t.Errorf("access log line = %s, want trace_id %s and a span_id", line, traceID)
		}
	}
	if !accessLogged {
		t.Errorf("no access log line in %q", logs.String())
	}
}

// TestTracingOff: without OTEL_* settings there is no tracer provider, and
// the server records nothing, not even through OpenTelemetry's global
// provider.
func TestTracingOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false},
		{"only a service name", map[string]string{"OTEL_SERVICE_NAME": "auth"}, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"console exporter", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tracingWanted(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("tracingWanted = %v, want %v", got, tc.want)
			}
		})
	}

	tp, shutdown, err := startTracing(context.Background(), func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if tp != nil || err != nil || shutdown(context.Background()) != nil {
		t.Fatalf("startTracing with nothing set = %v, %v; want no provider", tp, err)
	}
	// Anything that fell back to the global provider would record here.
	spans := tracetest.NewInMemoryExporter()
	global := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	previous := otel.GetTracerProvider()
	otel.SetTracerProvider(global)
	t.Cleanup(func() { otel.SetTracerProvider(previous); _ = global.Shutdown(context.Background()) })

	s := webtest.New(t, webtest.Options{})
	passwordClient(t, s)
	tok := tokenRequest(s.URL, "password-app", "password-app-secret-0123456789", url.Values{"grant_type": {"password"},
		"username": {"alice"}, "password": {webtest.AlicePassword}, "scope": {"profile"}})
	if tok.status != 200 {
		t.Fatalf("password grant = %d %v", tok.status, tok.body)
	}
	if got := spans.GetSpans(); len(got) != 0 {
		t.Errorf("tracing off recorded %d spans: %v", len(got), names(got.Snapshots()))
	}
}

// passwordClient registers a first-party client that may use the
// password grant (webtest's own use the browser flows).
func passwordClient(t *testing.T, s *webtest.Server) {
	t.Helper()
	err := s.Store.CreateClient(context.Background(), &storage.Client{ID: "password-app", FirstParty: true,
		SecretHash: testenv.Hash(t, "password-app-secret-0123456789"), GrantTypes: []string{"password"},
		Scopes: []string{"profile"}, RedirectURIs: []string{s.RedirectURI}})
	if err != nil {
		t.Fatal(err)
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name())
	}
	return out
}
