package config

import (
	"strings"
	"testing"
)

// client_id_metadata is off by default, read from the file and the
// environment, and each bad limit is refused naming its setting.
func TestClientIDMetadataSettings(t *testing.T) {
	t.Chdir(t.TempDir())
	if Default().ClientIDMetadata.Enabled {
		t.Fatal("client ID metadata documents are on by default")
	}
	file := writeFile(t, "oauth2d.yaml", "client_id_metadata:\n  enabled: true\n  scopes: [openid, profile]\n  timeout: 2s\n")
	c := loadFileForTest(t, file, map[string]string{"OAUTH2D_CLIENT_ID_METADATA_MAX_BYTES": "4096"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m := c.ClientIDMetadata
	if !m.Enabled || strings.Join(m.Scopes, " ") != "openid profile" || m.Timeout.String() != "2s" || m.MaxBytes != 4096 {
		t.Fatalf("read %+v", m)
	}
	for env, setting := range map[string]string{
		"OAUTH2D_CLIENT_ID_METADATA_MAX_BYTES":     "client_id_metadata.max_bytes",
		"OAUTH2D_CLIENT_ID_METADATA_TIMEOUT":       "client_id_metadata.timeout",
		"OAUTH2D_CLIENT_ID_METADATA_CACHE_MIN":     "client_id_metadata.cache_min",
		"OAUTH2D_CLIENT_ID_METADATA_CACHE_MAX":     "client_id_metadata.cache_max",
		"OAUTH2D_CLIENT_ID_METADATA_CACHE_ENTRIES": "client_id_metadata.cache_entries",
		"OAUTH2D_CLIENT_ID_METADATA_PER_IP":        "client_id_metadata.per_ip",
		"OAUTH2D_CLIENT_ID_METADATA_SCOPES":        "client_id_metadata.scopes",
	} {
		bad := map[string]string{
			"OAUTH2D_CLIENT_ID_METADATA_MAX_BYTES": "100000", "OAUTH2D_CLIENT_ID_METADATA_TIMEOUT": "1m",
			"OAUTH2D_CLIENT_ID_METADATA_CACHE_MIN": "0s", "OAUTH2D_CLIENT_ID_METADATA_CACHE_MAX": "720h",
			"OAUTH2D_CLIENT_ID_METADATA_CACHE_ENTRIES": "0", "OAUTH2D_CLIENT_ID_METADATA_PER_IP": "-1",
			"OAUTH2D_CLIENT_ID_METADATA_SCOPES": "openid,openid",
		}[env]
		c := loadFileForTest(t, file, map[string]string{env: bad})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "config: "+setting+":") {
			t.Errorf("%s=%q: %v, want an error naming %s", env, bad, err, setting)
		}
	}
	// Administrator scopes never go to a client nobody vouched for.
	for _, privileged := range PrivilegedScopes {
		c := loadFileForTest(t, file, map[string]string{"OAUTH2D_CLIENT_ID_METADATA_SCOPES": "openid," + privileged})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "administrator powers") {
			t.Errorf("client_id_metadata.scopes with %s: %v, want refused", privileged, err)
		}
	}
}
