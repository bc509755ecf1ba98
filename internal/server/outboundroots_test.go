package server

import (
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outbound.ca_file adds its certificates to the system's roots, and a
// file that cannot be read or holds none stops the server from starting
// rather than leaving it unable to reach what the operator meant.
func TestOutboundRoots(t *testing.T) {
	dir := t.TempDir()
	if _, err := outboundRoots(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "outbound.ca_file") {
		t.Errorf("a missing file: %v, want an error naming outbound.ca_file", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := outboundRoots(junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a file without certificates: %v, want refused", err)
	}
	tls := httptest.NewTLSServer(nil)
	defer tls.Close()
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := outboundRoots(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.Certificate().Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.com"}); err != nil {
		t.Errorf("the file's certificate is not trusted: %v", err)
	}
}
