package account

import (
	"encoding/json"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// dpop_bound_access_tokens reads the same in the bootstrap file (YAML) and
// the admin API (JSON), and survives the stored record both ways.
func TestRegistrationDPoPBoundAccessTokens(t *testing.T) {
	var fromYAML, fromJSON ClientRegistration
	if err := yaml.Unmarshal([]byte("id: spa\npublic: true\ndpop_bound_access_tokens: true\nrequire_pushed_authorization_requests: true\n"), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"id":"spa","public":true,"dpop_bound_access_tokens":true,"require_pushed_authorization_requests":true}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ClientRegistration{fromYAML, fromJSON} {
		rec := r.Record()
		if !rec.DPoPBoundAccessTokens || !rec.RequirePushedAuthorizationRequests {
			t.Fatalf("Record of %+v lost dpop_bound_access_tokens", r)
		}
		if back := RegistrationOf(rec); !reflect.DeepEqual(back, r) {
			t.Fatalf("RegistrationOf(Record()) = %+v, want %+v", back, r)
		}
	}
}

// client_uri reads the same in the bootstrap file and the admin API, and
// survives the stored record both ways.
func TestRegistrationClientURI(t *testing.T) {
	var fromYAML, fromJSON ClientRegistration
	if err := yaml.Unmarshal([]byte("id: web\nclient_uri: https://web.example/\n"), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"id":"web","client_uri":"https://web.example/"}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ClientRegistration{fromYAML, fromJSON} {
		rec := r.Record()
		if rec.ClientURI != "https://web.example/" {
			t.Fatalf("Record of %+v: client_uri = %q", r, rec.ClientURI)
		}
		if back := RegistrationOf(rec); !reflect.DeepEqual(back, r) {
			t.Fatalf("RegistrationOf(Record()) = %+v, want %+v", back, r)
		}
	}
}

// insecure_skip_consent_for_native_redirects reads the same in the
// bootstrap file and the admin API, and survives the stored record both
// ways.
func TestRegistrationInsecureSkipConsentForNativeRedirects(t *testing.T) {
	var fromYAML, fromJSON ClientRegistration
	if err := yaml.Unmarshal([]byte("id: cli\npublic: true\ninsecure_skip_consent_for_native_redirects: true\n"), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"id":"cli","public":true,"insecure_skip_consent_for_native_redirects":true}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ClientRegistration{fromYAML, fromJSON} {
		rec := r.Record()
		if !rec.InsecureSkipConsentForNativeRedirects {
			t.Fatalf("Record of %+v lost insecure_skip_consent_for_native_redirects", r)
		}
		if back := RegistrationOf(rec); !reflect.DeepEqual(back, r) {
			t.Fatalf("RegistrationOf(Record()) = %+v, want %+v", back, r)
		}
	}
}
