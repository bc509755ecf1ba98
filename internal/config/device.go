package config

import "time"

// Device configures the device authorization grant (RFC 8628). The
// endpoint and the /device pages are always served; a client uses them
// when registered for the grant type.
type Device struct {
	// CodeTTL is how long a device code and its user code live.
	CodeTTL time.Duration `yaml:"code_ttl"`
	// Interval is the least time a device must wait between polls at
	// first; polling faster adds 5s to it (slow_down).
	Interval time.Duration `yaml:"interval"`
	// PublicPerIP bounds, per client address and minute, the device
	// authorizations public clients (which authenticate with nothing but
	// their id) may start, so anonymous callers cannot fill Redis; 0
	// turns it off.
	PublicPerIP int `yaml:"public_per_ip"`
	// WrongCodesPerIP bounds, per address and minute, the wrong user
	// codes entered on the /device page (RFC 8628 §5.1); 0 turns it off.
	WrongCodesPerIP int `yaml:"wrong_codes_per_ip"`
}

func defaultDevice() Device {
	return Device{CodeTTL: 10 * time.Minute, Interval: 5 * time.Second, PublicPerIP: 60, WrongCodesPerIP: 10}
}

func (c *Config) deviceSettings() []setting {
	return []setting{
		{"device.code_ttl", "how long a device code and its user code live", (*durationValue)(&c.Device.CodeTTL)},
		{"device.interval", "least time between a device's polls at first", (*durationValue)(&c.Device.Interval)},
		{"device.public_per_ip", "device authorizations per minute per address from public clients (0 = unlimited)", (*intValue)(&c.Device.PublicPerIP)},
		{"device.wrong_codes_per_ip", "wrong user codes per minute per address on the device page (0 = unlimited)", (*intValue)(&c.Device.WrongCodesPerIP)},
	}
}

func (c *Config) validateDevice(bad func(setting, format string, args ...any)) {
	if c.Device.CodeTTL < time.Minute || c.Device.CodeTTL > 30*time.Minute {
		bad("device.code_ttl", "must be from 1m to 30m, not %v", c.Device.CodeTTL)
	}
	if c.Device.Interval < time.Second || c.Device.Interval > time.Minute || c.Device.Interval%time.Second != 0 {
		bad("device.interval", "must be whole seconds from 1s to 1m, not %v", c.Device.Interval)
	}
	if c.Device.PublicPerIP < 0 {
		bad("device.public_per_ip", "must not be negative")
	}
	if c.Device.WrongCodesPerIP < 0 {
		bad("device.wrong_codes_per_ip", "must not be negative")
	}
}
