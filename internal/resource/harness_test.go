package resource_test

import (
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/testredis"
)

// The resource tests run on resourcetest's harness: the resource side of
// whole instances on a real Redis.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	testredis.Main(m)
}
