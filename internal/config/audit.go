package config

// Audit configures the audit events (package audit). They always go to
// the log; Stream also writes them to a Redis Stream under the key
// prefix (<prefix>audit), capped at StreamMaxLen entries.
type Audit struct {
	Stream       bool  `yaml:"stream"`
	StreamMaxLen int64 `yaml:"stream_max_len"`
}

// defaultAudit: the stream is on. Its writes leave the request path
// (one queued event, one writer), so it costs Redis a pipelined XADD per
// event and the request nothing it waits for (docs/operations.md, "Audit events").
func defaultAudit() Audit { return Audit{Stream: true, StreamMaxLen: 100_000} }

func (c *Config) auditSettings() []setting {
	return []setting{
		{"audit.stream", "also write audit events to a Redis Stream (<prefix>audit); they always go to the log", (*boolValue)(&c.Audit.Stream)},
		{"audit.stream_max_len", "about how many audit events the stream keeps (XADD MAXLEN ~); older ones are trimmed", (*int64Value)(&c.Audit.StreamMaxLen)},
	}
}

// validateAudit: a stream shorter than a thousand events is trimmed
// before anyone reads it; a hundred million is tens of gigabytes of
// Redis memory.
func (c *Config) validateAudit(bad func(setting, format string, args ...any)) {
	if n := c.Audit.StreamMaxLen; n < 1000 || n > 100_000_000 {
		bad("audit.stream_max_len", "must be from 1000 to 100000000, not %d", n)
	}
}
