package oauth

import (
	"strconv"
	"strings"
)

// redirectURIRegistered reports whether requested may be used as the
// redirect URI of a client that registered the URIs in registered: an
// exact match (RFC 9700 §4.1.3), or, for a registered loopback IP literal
// URI, the same URI on any port (RFC 8252 §7.3: a native app picks a free
// port at run time). "localhost" stays exact: RFC 8252 §8.3 recommends the
// IP literal, and a name can resolve elsewhere.
func redirectURIRegistered(registered []string, requested string) bool {
	for _, r := range registered {
		if redirectURIMatches(r, requested) {
			return true
		}
	}
	return false
}

// redirectURIMatches compares one registered URI with a requested one.
// Only the port may differ, and only when both are plain http on the same
// loopback IP literal; every other byte (path, query) must be equal.
func redirectURIMatches(registered, requested string) bool {
	if registered == requested {
		return true
	}
	regHost, _, regRest, ok := splitLoopback(registered)
	if !ok {
		return false
	}
	reqHost, _, reqRest, ok := splitLoopback(requested)
	return ok && regHost == reqHost && regRest == reqRest
}

// splitLoopback splits an http URI on 127.0.0.1 or [::1] into its host,
// port (empty if none) and the rest (path and query), or reports false.
// The URI is read byte by byte rather than through url.Parse so that no
// normalisation (case, escapes, a 127.000.0.1) can make two different
// strings match.
func splitLoopback(raw string) (host, port, rest string, ok bool) {
	after, found := strings.CutPrefix(raw, "http://")
	if !found {
		return "", "", "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority, rest := after[:end], after[end:]
	if strings.Contains(rest, "#") {
		return "", "", "", false
	}
	for _, h := range []string{"127.0.0.1", "[::1]"} {
		if p, found := strings.CutPrefix(authority, h); found {
			if p == "" {
				return h, "", rest, true
			}
			if p, found = strings.CutPrefix(p, ":"); found && validPort(p) {
				return h, p, rest, true
			}
			return "", "", "", false
		}
	}
	return "", "", "", false
}

// validPort: 1 to 65535 in plain decimal, no sign or leading zero.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' || strings.Trim(p, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
