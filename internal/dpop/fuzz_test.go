package dpop_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
)

// FuzzVerify feeds arbitrary proofs to the parser: it must never panic,
// and whatever it accepts must have been signed by the key in its own
// header for this very request.
func FuzzVerify(f *testing.F) {
	key := dpoptest.NewKey(f)
	honest := key.Proof(f, dpoptest.For("POST", tokenURL).At(now))
	f.Add(honest)
	f.Add(key.SignHeader(f, key.Header(f), dpoptest.For("POST", tokenURL).At(now)))
	f.Add(dpoptest.Raw(f, map[string]any{"typ": "dpop+jwt", "alg": "none"}, dpoptest.For("POST", tokenURL).At(now), nil))
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := dpop.NewVerifier(dpop.Options{Replay: &memGuard{}, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), raw, dpop.Request{Method: "POST", URL: tokenURL})
		if err != nil {
			if !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("an error that is not ErrInvalidProof: %v", err)
			}
			return
		}
		if p.Thumbprint == "" || p.ID == "" || strings.Count(raw, ".") != 2 {
			t.Fatalf("accepted %q as %+v", raw, p)
		}
	})
}
