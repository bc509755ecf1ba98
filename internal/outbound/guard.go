package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/oauth2d/oauth2d/internal/config"
)

// ErrRefused matches every refusal of a destination with errors.Is,
// whether by CheckHost or when connecting (there through *url.Error and
// *net.OpError). The error itself is a *RefusedError.
var ErrRefused = errors.New("outbound: refused an internal destination")

// RefusedError says which destination was refused and why.
type RefusedError struct {
	Destination string // the address or host name
	Why         string // the kind of address: "loopback", "private", …
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound: refused an internal destination: %s (%s); %s lists the internal destinations allowed",
		e.Destination, e.Why, config.OutboundAllowSetting)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// ErrResponseTooLarge is what reading past MaxResponseBytes of an answer's
// body returns.
var ErrResponseTooLarge = errors.New("outbound: response body too large")

const (
	// MaxResponseBytes bounds the body of an answer read through Client:
	// an endpoint cannot make the server buffer more than this.
	MaxResponseBytes = 1 << 20
	// maxResponseHeaderBytes bounds the answer's headers.
	maxResponseHeaderBytes = 64 << 10
)

// Guard decides which destinations the server's own requests may reach
// and builds the client that enforces it. It is safe for concurrent use.
type Guard struct {
	insecureDev bool
	allowed     []netip.Prefix // outbound.allow_internal's addresses and prefixes
	hosts       []string       // outbound.allow_internal's host names, lower case
	rootCAs     *x509.CertPool // nil: the system's roots
}

// Option changes a Guard.
type Option func(*Guard)

// WithRootCAs makes the guard's clients trust the certificates of pool
// instead of the system's roots. It exists for tests, whose https servers
// (httptest.NewTLSServer) have certificates of their own; no setting
// reaches it, and it changes nothing but whom TLS trusts: every address
// is checked as before.
func WithRootCAs(pool *x509.CertPool) Option { return func(g *Guard) { g.rootCAs = pool } }

// New returns the guard of a validated configuration: internal
// destinations are refused unless outbound.allow_internal names them or
// insecure_dev is on.
func New(cfg *config.Config, opts ...Option) (*Guard, error) {
	prefixes, hosts, err := cfg.Outbound.InternalAllowList()
	if err != nil {
		return nil, err
	}
	g := &Guard{insecureDev: cfg.InsecureDev, allowed: prefixes, hosts: hosts}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// CheckAddr refuses an internal address that the configuration does not
// allow. Zones are ignored and IPv4-mapped IPv6 addresses are read as the
// IPv4 address they are.
func (g *Guard) CheckAddr(a netip.Addr) error {
	if g.insecureDev {
		return nil
	}
	a = a.WithZone("").Unmap()
	if g.allows(a) {
		return nil
	}
	if kind := internalKind(a); kind != "" {
		return &RefusedError{Destination: a.String(), Why: kind}
	}
	if v4, ok := embeddedIPv4(a); ok && !g.allows(v4) {
		if kind := internalKind(v4); kind != "" {
			return &RefusedError{Destination: a.String(), Why: fmt.Sprintf("embeds %s, %s", v4, kind)}
		}
	}
	return nil
}

// CheckHost applies the policy to a URL's host (url.URL.Hostname) before
// any request is made, as when a client is registered: a literal address
// is checked as when connecting; "localhost" and the names under it are
// loopback (RFC 6761 §6.3); a numeric name that some resolvers read as an
// address ("127.1", "2130706433", "0x7f.1") is refused. Any other name
// passes here: what it resolves to is checked when connecting.
func (g *Guard) CheckHost(host string) error {
	if g.insecureDev {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if g.allowsName(name) {
		return nil
	}
	if a, err := netip.ParseAddr(name); err == nil {
		return g.CheckAddr(a)
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if g.CheckAddr(netip.IPv6Loopback()) == nil || g.CheckAddr(netip.AddrFrom4([4]byte{127, 0, 0, 1})) == nil {
			return nil
		}
		return &RefusedError{Destination: host, Why: "loopback"}
	}
	if last := name[strings.LastIndexByte(name, '.')+1:]; strings.HasPrefix(last, "0x") || last != "" && strings.Trim(last, "0123456789") == "" {
		return &RefusedError{Destination: host, Why: "a numeric name, which resolvers may read as an address"}
	}
	return nil
}

func (g *Guard) allows(a netip.Addr) bool {
	return slices.ContainsFunc(g.allowed, func(p netip.Prefix) bool { return p.Contains(a) })
}

func (g *Guard) allowsName(name string) bool { return slices.Contains(g.hosts, name) }

// internalKind says which kind of non-public address a is, or "" for a
// public one. The methods of netip.Addr cover loopback, RFC 1918 and RFC
// 4193 private, link-local (169.254.0.0/16, fe80::/10), multicast and
// unspecified; specialRanges the rest that no public service uses.
func internalKind(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	for _, r := range specialRanges {
		if r.prefix.Contains(a) {
			return r.kind
		}
	}
	return ""
}

var specialRanges = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network, RFC 791"}, // 0.x.y.z reaches the host itself on Linux
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space, RFC 6598"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking, RFC 2544"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved, RFC 1112"}, // and the broadcast address
	{netip.MustParsePrefix("fec0::/10"), "site-local, RFC 3879"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64, RFC 8215"},
}

// embeddings are the IPv6 forms that carry an IPv4 address the packet may
// end up at, and where it sits in the 16 bytes.
var embeddings = []struct {
	prefix netip.Prefix
	at     int
}{
	{netip.MustParsePrefix("::/96"), 12},           // IPv4-compatible, RFC 4291 §2.5.5.1
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 12}, // IPv4-translated, RFC 2765 §2.1
	{netip.MustParsePrefix("64:ff9b::/96"), 12},    // NAT64 well-known prefix, RFC 6052
	{netip.MustParsePrefix("2002::/16"), 2},        // 6to4, RFC 3056
}

func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	for _, e := range embeddings {
		if e.prefix.Contains(a) {
			return netip.AddrFrom4([4]byte(b[e.at : e.at+4])), true
		}
	}
	return netip.Addr{}, false
}

// Client returns the client for outbound requests: each address is
// checked when connecting, no redirect is followed (a 3xx is returned as
// the answer), no proxy is used, timeout bounds each whole request, and
// a body read past MaxResponseBytes fails with ErrResponseTooLarge.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	transport := &http.Transport{
		// A proxy from the environment would be the only address
		// checked, and it would reach the internal hosts for us.
		Proxy:                  nil,
		DialContext:            g.dialer(timeout),
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		IdleConnTimeout:        90 * time.Second,
	}
	if g.rootCAs != nil {
		transport.TLSClientConfig = &tls.Config{RootCAs: g.rootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport:     boundedBodies{next: transport, limit: MaxResponseBytes},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// dialer checks every address it connects to, after DNS answered, unless
// the host was named in outbound.allow_internal: then it is trusted
// whatever it resolves to.
func (g *Guard) dialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	checked := &net.Dialer{Timeout: timeout, Control: g.control}
	trusted := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && g.allowsName(strings.TrimSuffix(strings.ToLower(host), ".")) {
			return trusted.DialContext(ctx, network, addr)
		}
		return checked.DialContext(ctx, network, addr)
	}
}

// control runs before each connection attempt, with the resolved address.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Destination: address, Why: "unreadable address"}
	}
	return g.CheckAddr(ap.Addr())
}

// boundedBodies limits every answer's body to limit bytes.
type boundedBodies struct {
	next  http.RoundTripper
	limit int64
}

func (b boundedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: b.limit}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
