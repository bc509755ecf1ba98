package config

import (
	"fmt"
	"strings"
	"testing"
)

// outbound.allow_internal comes from the file or the environment; Validate
// refuses an entry that is neither an address, a prefix nor a host name,
// naming the setting.
func TestOutboundAllowInternal(t *testing.T) {
	t.Chdir(t.TempDir())
	file := writeFile(t, "oauth2d.yaml", "outbound:\n  allow_internal: [10.20.0.0/16, \"::ffff:127.0.0.1\", Logout.Internal.]\n")
	c := loadFileForTest(t, file, nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	prefixes, hosts, err := c.Outbound.InternalAllowList()
	if err != nil {
		t.Fatal(err)
	}
	want(t, "prefixes", fmt.Sprint(prefixes), "[10.20.0.0/16 127.0.0.1/32]")
	want(t, "hosts", fmt.Sprint(hosts), "[logout.internal]")

	c = loadFileForTest(t, file, map[string]string{"OAUTH2D_OUTBOUND_ALLOW_INTERNAL": "192.168.1.5, ::ffff:10.0.0.0/104"})
	prefixes, _, _ = c.Outbound.InternalAllowList()
	want(t, "prefixes from env", fmt.Sprint(prefixes), "[192.168.1.5/32 10.0.0.0/8]")

	for _, bad := range []string{"10.0.0.0/33", "fe80::1%eth0", "127.1", "under_score.example", "http://10.0.0.1/", "10.0.0.1:80"} {
		c := loadFileForTest(t, file, map[string]string{"OAUTH2D_OUTBOUND_ALLOW_INTERNAL": bad})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "config: outbound.allow_internal:") {
			t.Errorf("allow_internal %q: %v", bad, err)
		}
	}
}
