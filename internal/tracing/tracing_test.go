package tracing_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/oauth2d/oauth2d/internal/tracing"
)

func TestLogHandlerAddsIDsOnlyWithinASpan(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	sc := span.SpanContext()

	var buf bytes.Buffer
	// With and WithGroup must keep the wrapper, or lines of derived
	// loggers lose their ids.
	logger := slog.New(tracing.LogHandler(slog.NewTextHandler(&buf, nil))).With("component", "x")
	for _, tc := range []struct {
		name   string
		log    func()
		wantID bool
	}{
		{"traced", func() { logger.InfoContext(ctx, "m") }, true},
		{"traced, in a group", func() { logger.WithGroup("g").InfoContext(ctx, "m") }, true},
		{"no context", func() { logger.Info("m") }, false},
		{"context without a span", func() { logger.InfoContext(context.Background(), "m") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			tc.log()
			line := buf.String()
			has := strings.Contains(line, sc.TraceID().String()) && strings.Contains(line, sc.SpanID().String())
			if has != tc.wantID || strings.Contains(line, "trace_id") != tc.wantID {
				t.Errorf("line %q: trace ids present = %v, want %v", line, has, tc.wantID)
			}
		})
	}
}

func TestStartAndChildrenOnly(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	children := tracing.ChildrenOnly(tp).Tracer("redis")

	// Outside a trace neither starts anything.
	_, s1 := tracing.Start(context.Background(), "secret.check")
	s1.End()
	_, s2 := children.Start(context.Background(), "evalsha")
	s2.End()
	if n := len(spans.GetSpans()); n != 0 {
		t.Fatalf("%d spans outside a trace, want 0", n)
	}

	ctx, root := tp.Tracer("http").Start(context.Background(), "POST /oauth2/token")
	_, s3 := tracing.Start(ctx, "secret.check")
	s3.End()
	_, s4 := children.Start(ctx, "evalsha")
	s4.End()
	root.End()
	got := spans.GetSpans()
	if len(got) != 3 {
		t.Fatalf("got %d spans, want 3", len(got))
	}
	for _, sp := range got[:2] {
		if sp.Parent.SpanID() != root.SpanContext().SpanID() {
			t.Errorf("span %q is not a child of the request's", sp.Name)
		}
	}
}
