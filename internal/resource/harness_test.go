package resource_test

import (
	"testing"

	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
)

// The resource tests run on resourcetest's harness: the resource side of
// whole instances on a real Redis.
func TestMain(m *testing.M) { resourcetest.Main(m) }
