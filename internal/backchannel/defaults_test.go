package backchannel_test

import (
	"testing"

	"github.com/oauth2d/oauth2d/internal/backchannel"
	"github.com/oauth2d/oauth2d/internal/config"
)

// The configuration's defaults are the Sender's: an operator who sets
// nothing gets what the package documents.
func TestConfigDefaultsAreTheSenders(t *testing.T) {
	c := config.Default().Backchannel
	if c.Timeout != backchannel.DefaultTimeout || c.RetryFor != backchannel.DefaultRetryFor {
		t.Fatalf("config %+v, package %v and %v", c, backchannel.DefaultTimeout, backchannel.DefaultRetryFor)
	}
}
