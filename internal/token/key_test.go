package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestThumbprintRFC7638Example(t *testing.T) {
	// RFC 7638 §3.1.
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAt" +
		"VT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6" +
		"4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD" +
		"W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9" +
		"1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINH" +
		"aQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keyID(&rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("kid = %s, want %s", got, want)
	}
}

func TestKeyIDMatchesGoJoseThumbprint(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k := newTestKey(t, alg, 0)
			tp, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if want := base64.RawURLEncoding.EncodeToString(tp); k.ID() != want {
				t.Fatalf("kid = %s, go-jose thumbprint = %s", k.ID(), want)
			}
			if k.Algorithm() != alg {
				t.Fatalf("alg = %s, want %s", k.Algorithm(), alg)
			}
		})
	}
}

func TestParsePEMFormats(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := newTestKey(t, AlgRS256, 0).Signer().(*rsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ed := newTestKey(t, AlgEdDSA, 0)
	edPEM, err := ed.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	tests := []struct {
		name    string
		data    []byte
		alg     string
		wantAlg string
		wantErr error
	}{
		{"PKCS#8 EC inferred", pemOf("PRIVATE KEY", ecPKCS8), "", AlgES256, nil},
		{"SEC 1 EC", pemOf("EC PRIVATE KEY", sec1), AlgES256, AlgES256, nil},
		{"PKCS#1 RSA inferred RS256", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "", AlgRS256, nil},
		{"PKCS#1 RSA as PS256", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), AlgPS256, AlgPS256, nil},
		{"PKCS#8 Ed25519", edPEM, "", AlgEdDSA, nil},
		{"EC key claimed RS256", pemOf("EC PRIVATE KEY", sec1), AlgRS256, "", ErrUnsupportedAlgorithm},
		{"Ed25519 claimed ES256", edPEM, AlgES256, "", ErrUnsupportedAlgorithm},
		{"HS256 refused", pemOf("EC PRIVATE KEY", sec1), "HS256", "", ErrUnsupportedAlgorithm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePEM(tc.data, tc.alg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != tc.wantAlg {
				t.Fatalf("alg = %s, want %s", k.Algorithm(), tc.wantAlg)
			}
		})
	}
}

func TestParsePEMRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	_, garbageErr := x509.ParsePKCS8PrivateKey([]byte{1, 2, 3})
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"not PEM", []byte("hello"), "token: no PEM block found"},
		{
			"public key block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
			`token: unsupported PEM block "PUBLIC KEY" (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)`,
		},
		{
			"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
			"token: parse PRIVATE KEY: " + garbageErr.Error(),
		},
		{
			"RSA 1024", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
			"token: RSA key of 1024 bits is below the minimum 2048",
		},
		{
			"P-384 as ES256", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384DER}),
			`token: unsupported signing algorithm: "ES256" with a *ecdsa.PrivateKey key`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePEM(tc.data, "")
			checkErrorText(t, err, tc.wantErr)
		})
	}
}

func TestKeyIDStableAcrossEncodings(t *testing.T) {
	k := newTestKey(t, AlgES256, 0)
	der, err := k.MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParsePKCS8(der, AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != k.ID() {
		t.Fatalf("kid changed after a PKCS#8 round trip: %s vs %s", again.ID(), k.ID())
	}
}

func TestGenerateRSAKeyMinimum(t *testing.T) {
	_, err := GenerateRSAKey(AlgRS256, 1024)
	checkErrorText(t, err, "token: RSA key of 1024 bits is below the minimum 2048")
	if _, err := GenerateKey("none"); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Fatalf("err = %v, want ErrUnsupportedAlgorithm", err)
	}
}

// TestKeyIDRFC8037Example pins a whole Key's kid, not just the thumbprint
// function, against the Ed25519 key of RFC 8037 Appendix A.1 and its
// thumbprint in Appendix A.3.
func TestKeyIDRFC8037Example(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(ed25519.NewKeyFromSeed(seed), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.ID(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("kid = %s, want %s", got, want)
	}
}
