package config

// Consent configures the consent page.
type Consent struct {
	// RememberByDefault ticks the page's "remember this decision" box.
	// Ticked, an allowed request is remembered and the page is skipped
	// next time for the same or fewer scopes; unticked, the consent holds
	// for that one authorization.
	RememberByDefault bool `yaml:"remember_by_default"`
}

func defaultConsent() Consent { return Consent{RememberByDefault: true} }

func (c *Config) consentSettings() []setting {
	return []setting{
		{"consent.remember_by_default", "the consent page's \"remember this decision\" box starts ticked", (*boolValue)(&c.Consent.RememberByDefault)},
	}
}
