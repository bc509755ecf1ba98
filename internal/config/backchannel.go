package config

import "time"

// Backchannel configures the delivery of OpenID Connect Back-Channel
// Logout tokens (package backchannel's Sender). Deliveries are always
// made to clients registered with a backchannel_logout_uri.
type Backchannel struct {
	// Timeout bounds one POST of a logout token to a client.
	Timeout time.Duration `yaml:"timeout"`
	// RetryFor is how long a failing delivery is retried, with backoff,
	// after it was queued; then it is given up (logged and counted).
	RetryFor time.Duration `yaml:"retry_for"`
}

// defaultBackchannel equals backchannel.DefaultTimeout and
// DefaultRetryFor (config does not import the package it configures; a
// test in package backchannel keeps the two equal).
func defaultBackchannel() Backchannel {
	return Backchannel{Timeout: 5 * time.Second, RetryFor: time.Hour}
}

func (c *Config) backchannelSettings() []setting {
	return []setting{
		{"backchannel.timeout", "time allowed for one back-channel logout POST to a client", (*durationValue)(&c.Backchannel.Timeout)},
		{"backchannel.retry_for", "how long a failing back-channel logout delivery is retried before it is given up", (*durationValue)(&c.Backchannel.RetryFor)},
	}
}

// validateBackchannel: a POST shorter than a second fails on any real
// network; one longer than a minute holds a claimed batch (and its lease,
// twice the timeout) for too long. A delivery is retried at least once
// with backoff (first after 2s) and not past a day: a logout token that
// arrives a day late protects nothing, while the queue keeps it.
func (c *Config) validateBackchannel(bad func(setting, format string, args ...any)) {
	if c.Backchannel.Timeout < time.Second || c.Backchannel.Timeout > time.Minute {
		bad("backchannel.timeout", "must be from 1s to 1m, not %v", c.Backchannel.Timeout)
	}
	if c.Backchannel.RetryFor < 10*time.Second || c.Backchannel.RetryFor > 24*time.Hour {
		bad("backchannel.retry_for", "must be from 10s to 24h, not %v", c.Backchannel.RetryFor)
	}
}
