package storage

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// LogRedisTo sends go-redis's own log lines (failed dials, pool and
// cluster events) to logger at warn level, instead of its default of the
// standard logger on stderr. go-redis has one logger per process, so only
// main calls this, once.
func LogRedisTo(logger *slog.Logger) { redis.SetLogger(redisLogger{logger}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...), "component", "go-redis")
}
