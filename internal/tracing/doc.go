// Package tracing holds oauth2d's few uses of the OpenTelemetry API beyond
// the ecosystem's instrumentation (otelgin for requests, redisotel for
// Redis): spans around the expensive steps, and log correlation.
//
// A span of ours is only ever a child: Start takes the tracer provider
// from the span already in the context, so without a traced request (or
// with tracing off) it records nothing and costs one context value.
package tracing
