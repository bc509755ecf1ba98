package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracingWanted reports whether the OTEL_* variables ask for traces: an
// OTLP endpoint, or an exporter other than "none", and the SDK not
// disabled. Anything else leaves tracing off: no SDK, no exporter, no
// instrumentation on requests or Redis.
func tracingWanted(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter != "" {
		return exporter != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// startTracing builds the tracer provider the OTEL_* variables describe
// (exporter, endpoint, protocol, headers, sampler, batch settings,
// service name and resource attributes, all read by the SDK itself), or
// returns nil when tracing is off. shutdown flushes the spans still queued
// and stops the exporter; call it once the server has stopped.
func startTracing(ctx context.Context, getenv func(string) string, logger *slog.Logger) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !tracingWanted(getenv) {
		return nil, func(context.Context) error { return nil }, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, usage(fmt.Errorf("config: OTEL_TRACES_EXPORTER: %w", err))
	}
	// The SDK's defaults, then ours, then OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES: later ones win.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName("oauth2d")), resource.WithFromEnv())
	if err != nil {
		_ = exporter.Shutdown(ctx)
		return nil, nil, usage(fmt.Errorf("config: OTEL_RESOURCE_ATTRIBUTES: %w", err))
	}
	// An export that fails (collector down) must not stop the server; it
	// is logged like any other trouble.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: " + err.Error())
	}))
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	logger.Info("tracing on", "exporter", cmp.Or(getenv("OTEL_TRACES_EXPORTER"), "otlp"))
	return sdk, sdk.Shutdown, nil
}

// tracingFlushTimeout bounds the last export on shutdown: a collector
// that is down must not keep the process from exiting.
const tracingFlushTimeout = 5 * time.Second
