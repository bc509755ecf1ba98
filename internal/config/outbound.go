package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Outbound limits where the server's own requests go (back-channel logout
// POSTs; package outbound is the guard). By default they reach only
// public addresses: a client registration must not turn the server into
// a way into the network it runs in (SSRF).
type Outbound struct {
	// AllowInternal lists the internal destinations the server may send
	// to nonetheless: IP addresses ("10.1.2.3", "::1"), CIDR prefixes
	// ("10.20.0.0/16") and host names ("logout.internal", matched
	// exactly, never by suffix). A host name is trusted whatever it
	// resolves to; an address or prefix is checked when connecting.
	AllowInternal []string `yaml:"allow_internal"`
	// CAFile names a PEM file of CA certificates the server's own https
	// requests trust besides the system's: an organisation's private CA
	// behind internal jwks_uri, logout receivers or client documents.
	CAFile string `yaml:"ca_file"`
}

// OutboundCAFileSetting names the extra CA certificates of outbound requests.
const OutboundCAFileSetting = "outbound.ca_file"

// OutboundAllowSetting names the setting that lets outbound requests reach
// internal destinations; refusals name it so an operator knows the switch.
const OutboundAllowSetting = "outbound.allow_internal"

func (c *Config) outboundSettings() []setting {
	return []setting{
		{OutboundAllowSetting, "internal destinations (IPs, CIDRs, exact host names) that back-channel logout POSTs, jwks_uri fetches and client ID metadata document fetches may reach, comma-separated", (*listValue)(&c.Outbound.AllowInternal)},
		{OutboundCAFileSetting, "PEM file of CA certificates that the server's own https requests trust besides the system's (\"\" for none)", (*stringValue)(&c.Outbound.CAFile)},
	}
}

func (c *Config) validateOutbound(bad func(setting, format string, args ...any)) {
	for _, entry := range c.Outbound.AllowInternal {
		if _, _, err := parseOutboundEntry(entry); err != nil {
			bad(OutboundAllowSetting, "%v", err)
		}
	}
}

// InternalAllowList parses AllowInternal (which Validate checked) into
// address prefixes, IPv4-mapped IPv6 ones turned into IPv4 as the guard
// compares them, and lower-case host names.
func (o Outbound) InternalAllowList() (prefixes []netip.Prefix, hosts []string, err error) {
	for _, entry := range o.AllowInternal {
		p, host, err := parseOutboundEntry(entry)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %s: %w", OutboundAllowSetting, err)
		}
		if host != "" {
			hosts = append(hosts, host)
		} else {
			prefixes = append(prefixes, p)
		}
	}
	return prefixes, hosts, nil
}

// hostNamePattern is a DNS name of letter-digit-hyphen labels (RFC 1123
// §2.1) whose last label is not numeric, so that "127.1" or "0x7f.1",
// which some resolvers read as addresses, is never taken for a name.
var hostNamePattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

func parseOutboundEntry(entry string) (netip.Prefix, string, error) {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, "", fmt.Errorf("%q is not a CIDR prefix", entry)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), "", nil
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, "", fmt.Errorf("%q: an address with a zone cannot be allowed", entry)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	host := strings.TrimSuffix(strings.ToLower(entry), ".")
	if len(host) > 253 || !hostNamePattern.MatchString(host) {
		return netip.Prefix{}, "", fmt.Errorf("%q is neither an IP address, a CIDR prefix nor a host name", entry)
	}
	return netip.Prefix{}, host, nil
}
