package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/oauth2d/oauth2d/internal/config"
)

// healthcheck asks the server configured on this machine whether it is
// ready. It exists for container health checks: the distroless image has
// no curl or wget.
func healthcheck(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "healthcheck")
	fl := config.BindFlags(fs, "addr", "issuer", "tls.")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := loadConfig(e, fl)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(cfg.Addr) // Validate checked the form
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every interface: ask over loopback
	}
	scheme, transport := "http", &http.Transport{}
	if cfg.TLS.Enabled() {
		// The certificate names the issuer's host, not the loopback address
		// we dial.
		issuer, _ := url.Parse(cfg.Issuer)
		scheme = "https"
		transport.TLSClientConfig = &tls.Config{ServerName: issuer.Hostname(), MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Timeout: 3 * time.Second, Transport: transport}
	target := scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", target, resp.Status)
	}
	fmt.Fprintln(e.stdout, "ready")
	return nil
}
