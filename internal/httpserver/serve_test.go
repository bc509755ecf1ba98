package httpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// closeWatcher is a listener that reports when it is closed, which is
// when the server stops accepting connections.
type closeWatcher struct {
	net.Listener
	once     sync.Once
	closed   chan struct{}
	closedAt time.Time // set before closed is closed
}

func (l *closeWatcher) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		l.closedAt = time.Now()
		close(l.closed)
	})
	return err
}

// startServe runs Serve with handler h on a loopback port and returns the
// base URL, the cancel that starts the shutdown, Serve's result and the
// listener.
func startServe(t *testing.T, h http.Handler, drain time.Duration) (string, context.CancelFunc, <-chan error, *closeWatcher) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &closeWatcher{Listener: inner, closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := NewServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, ServeOptions{Drain: drain}) }()
	return "http://" + ln.Addr().String(), cancel, done, ln
}

// lateDrain bounds how long after shutdown begins (with no drain delay)
// the listener may stay open. Closing it takes microseconds; a shutdown
// that waits first takes at least its wait in every run, while a loaded
// machine delays only some runs, so the fastest of drainRuns runs is
// compared.
const (
	lateDrain = 100 * time.Millisecond
	drainRuns = 3
)

// TestServeDrainsInFlightRequests: once shutdown begins the listener
// closes at once, before the in-flight request finishes and before Serve
// returns; a new connection is refused, not accepted and dropped; the
// in-flight request finishes and Serve returns cleanly after it.
func TestServeDrainsInFlightRequests(t *testing.T) {
	fastest := time.Duration(math.MaxInt64)
	for range drainRuns {
		fastest = min(fastest, drainInFlight(t))
	}
	if fastest > lateDrain {
		t.Fatalf("the listener closed %v after shutdown began in the fastest of %d runs, want within %v", fastest, drainRuns, lateDrain)
	}
}

// drainInFlight shuts a server down while a request is in flight, checks
// the order of what follows, and returns how long the listener stayed
// open after shutdown began.
func drainInFlight(t *testing.T) time.Duration {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	base, cancel, done, ln := startServe(t, h, 5*time.Second)
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
	began := time.Now()
	cancel() // shutdown begins while the request is in flight

	select {
	case <-ln.closed:
	case err := <-done:
		t.Fatalf("Serve returned %v before it closed the listener and while a request was in flight", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the listener never closed after shutdown began")
	}
	open := ln.closedAt.Sub(began)
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	case body := <-got:
		t.Fatalf("the in-flight request ended with %q before it was released", body)
	default:
	}
	// Closed means refused, not accepted and dropped. Reset when the
	// dial raced the close and sat in the closing listener's backlog.
	if conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Fatal("a connection was accepted after the listener closed")
	} else if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial after the listener closed: %v, want connection refused", err)
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q, want it to finish", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v, want a clean shutdown", err)
	}
	return open
}

func TestServeReportsDrainTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	base, cancel, done, _ := startServe(t, h, 50*time.Millisecond)
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

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
	srv := NewServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, srv, ln, ServeOptions{CertFile: certFile, KeyFile: keyFile, Drain: time.Second})
	}()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("response not over TLS 1.2+: %+v", resp.TLS)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and
// returns a pool that trusts it.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
