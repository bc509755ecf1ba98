package api_test

import (
	"testing"

	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
)

// The api tests run on resourcetest's harness: the protected API mounted
// on the resource side of an instance on a real Redis.
func TestMain(m *testing.M) { resourcetest.Main(m) }
