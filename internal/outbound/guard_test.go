package outbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/config"
)

// newGuard is the guard of a configuration as an operator writes it.
func newGuard(t *testing.T, insecureDev bool, allowInternal ...string) *Guard {
	t.Helper()
	cfg := config.Default()
	cfg.InsecureDev = insecureDev
	cfg.Outbound.AllowInternal = allowInternal
	g, err := New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestCheckAddr(t *testing.T) {
	strict := newGuard(t, false)
	allowing := newGuard(t, false, "127.0.0.1", "10.20.0.0/16", "::ffff:192.168.7.0/120", "fd00:1::/32")
	dev := newGuard(t, true)
	for _, tc := range []struct {
		addr            string
		strict, allowed bool // allowed by strict, by allowing
	}{
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, false},
		{"::1", false, false},
		{"::ffff:127.0.0.1", false, true},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"10.0.0.1", false, false},
		{"10.20.3.4", false, true},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"192.168.7.9", false, true},
		{"fc00::1", false, false},
		{"fd00:1::5", false, true},
		{"100.64.0.1", false, false},
		{"100.127.255.254", false, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"198.18.0.1", false, false},
		{"fec0::1", false, false},
		{"::ffff:0:7f00:1", false, true},     // IPv4-translated 127.0.0.1
		{"::7f00:1", false, true},            // IPv4-compatible 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 to 169.254.169.254
		{"2002:a00:1::1", false, false},      // 6to4 of 10.0.0.1
		{"2002:a14:304::1", false, true},     // 6to4 of 10.20.3.4
		{"64:ff9b:1::a00:1", false, false},   // local-use NAT64
		{"93.184.215.14", true, true},        // public
		{"8.8.8.8", true, true},              // public
		{"::ffff:8.8.8.8", true, true},       // public, mapped
		{"64:ff9b::808:808", true, true},     // NAT64 to a public address
		{"100.63.255.255", true, true},       // just below 100.64.0.0/10
		{"100.128.0.0", true, true},          // just above it
		{"2606:4700:4700::1111", true, true}, // public IPv6
		{"2001:db8::1", true, true},          // documentation, but routed nowhere internal
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			for _, c := range []struct {
				name  string
				g     *Guard
				allow bool
			}{{"strict", strict, tc.strict}, {"allow_internal", allowing, tc.allowed}, {"insecure_dev", dev, true}} {
				err := c.g.CheckAddr(a)
				if (err == nil) != c.allow {
					t.Errorf("%s: CheckAddr(%s) = %v, want allowed %v", c.name, a, err, c.allow)
				}
				if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), config.OutboundAllowSetting)) {
					t.Errorf("%s: error %q is not ErrRefused naming %s", c.name, err, config.OutboundAllowSetting)
				}
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	strict := newGuard(t, false)
	allowing := newGuard(t, false, "127.0.0.1", "Logout.Internal")
	for _, tc := range []struct {
		host            string
		strict, allowed bool
	}{
		{"app.example", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, false},
		{"::ffff:127.0.0.1", false, true},
		{"169.254.169.254", false, false},
		{"10.0.0.1", false, false},
		{"localhost", false, true}, // allowed through 127.0.0.1
		{"LOCALHOST.", false, true},
		{"redis.localhost", false, true},
		{"127.1", false, false},
		{"2130706433", false, false},
		{"0x7f000001", false, false},
		{"logout.internal", true, true}, // a name: checked when connecting, unless listed
		{"LOGOUT.internal.", true, true},
	} {
		t.Run(tc.host, func(t *testing.T) {
			if err := strict.CheckHost(tc.host); (err == nil) != tc.strict || err != nil && !errors.Is(err, ErrRefused) {
				t.Errorf("strict: CheckHost(%q) = %v, want allowed %v", tc.host, err, tc.strict)
			}
			if err := allowing.CheckHost(tc.host); (err == nil) != tc.allowed {
				t.Errorf("allow_internal: CheckHost(%q) = %v, want allowed %v", tc.host, err, tc.allowed)
			}
			if err := newGuard(t, true).CheckHost(tc.host); err != nil {
				t.Errorf("insecure_dev: CheckHost(%q) = %v", tc.host, err)
			}
		})
	}
}

// counting is an endpoint on 127.0.0.1 that counts its requests.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// The address is checked when connecting: a literal loopback address and
// a name that resolves to one are refused before a byte is sent, unless
// the configuration allows them.
func TestClientChecksWhenConnecting(t *testing.T) {
	srv, hits := counting(t, nil)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	byName := "http://localhost:" + port + "/"
	for _, tc := range []struct {
		name  string
		guard *Guard
		url   string
		ok    bool
	}{
		{"loopback address", newGuard(t, false), srv.URL, false},
		{"name resolving to loopback", newGuard(t, false), byName, false},
		{"allowed address", newGuard(t, false, "127.0.0.0/8"), srv.URL, true},
		{"name resolving to an allowed address", newGuard(t, false, "127.0.0.1"), byName, true},
		{"allowed name", newGuard(t, false, "localhost"), byName, true},
		{"allowed name, address used directly", newGuard(t, false, "localhost"), srv.URL, false},
		{"insecure_dev", newGuard(t, true), byName, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp, err := tc.guard.Client(5*time.Second).Post(tc.url, "text/plain", strings.NewReader("x"))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if hits.Load() != before+1 {
					t.Fatal("the request did not arrive")
				}
				return
			}
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("the request was sent")
			}
			var ue *url.Error
			var re *RefusedError
			if !errors.Is(err, ErrRefused) || !errors.As(err, &ue) || !errors.As(err, &re) || re.Destination != "127.0.0.1" || re.Why != "loopback" {
				t.Fatalf("error %v (%T) does not wrap a RefusedError of 127.0.0.1 (loopback)", err, err)
			}
			if hits.Load() != before {
				t.Fatal("the endpoint got the request")
			}
		})
	}
}

func TestClientFollowsNoRedirect(t *testing.T) {
	target, hits := counting(t, nil)
	redirector, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	resp, err := newGuard(t, false, "127.0.0.1").Client(5*time.Second).Post(redirector.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Fatalf("status %d, target hit %d times: the redirect was followed", resp.StatusCode, hits.Load())
	}
}

func TestClientBoundsTheBody(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr error
	}{{MaxResponseBytes, nil}, {MaxResponseBytes + 1, ErrResponseTooLarge}} {
		srv, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(make([]byte, tc.size))
		})
		resp, err := newGuard(t, false, "127.0.0.1").Client(5 * time.Second).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && len(body) != tc.size {
			t.Errorf("body of %d bytes: read %d, err %v, want %v", tc.size, len(body), err, tc.wantErr)
		}
	}
}

func TestClientBoundsTheTime(t *testing.T) {
	release := make(chan struct{})
	srv, _ := counting(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	start := time.Now()
	_, err := newGuard(t, false, "127.0.0.1").Client(200 * time.Millisecond).Get(srv.URL)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a stalled endpoint: err %v after %v", err, time.Since(start))
	}
}

// A proxy from the environment would reach internal hosts on the server's
// behalf, and the dialer would check only the proxy's address.
func TestClientUsesNoProxy(t *testing.T) {
	transport := newGuard(t, false).Client(time.Second).Transport.(boundedBodies).next.(*http.Transport)
	if transport.Proxy != nil {
		t.Fatal("the transport takes a proxy")
	}
}
