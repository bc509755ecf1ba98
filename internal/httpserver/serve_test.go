package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServe runs Serve with handler h on a loopback port and returns the
// base URL, the cancel that starts the shutdown and Serve's result.
func startServe(t *testing.T, h http.Handler, drain time.Duration) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := NewServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, ServeOptions{Drain: drain}) }()
	return "http://" + ln.Addr().String(), cancel, done
}

func TestServeDrainsInFlightRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	base, cancel, done := startServe(t, h, 5*time.Second)

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel() // shutdown begins while the request is in flight
	time.Sleep(50 * time.Millisecond)
	if _, err := http.Get(base + "/new"); err == nil {
		t.Error("a new connection was accepted after shutdown began")
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q, want it to finish", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v, want a clean shutdown", err)
	}
}

func TestServeReportsDrainTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	base, cancel, done := startServe(t, h, 50*time.Millisecond)
	go func() {
		if resp, err := http.Get(base + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "did not finish within 50ms") {
		t.Fatalf("Serve = %v, want a drain timeout error", err)
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve's Accept fails at once
	srv := NewServer(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	err = Serve(context.Background(), srv, ln, ServeOptions{Drain: time.Second})
	if err == nil || !strings.HasPrefix(err.Error(), "httpserver: serve:") {
		t.Fatalf("Serve = %v, want a serve error", err)
	}
}
