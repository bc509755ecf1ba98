package bootstrap

import (
	"reflect"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
)

// Every field an operator can declare for a client must count as a
// change when re-applying the file; a field sameClient forgets is an edit
// that is reported "unchanged" and never stored.
func TestSameClientSeesEveryRegistrationField(t *testing.T) {
	base := account.ClientRegistration{ID: "app"}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "ID" {
			continue // the key the records are matched by
		}
		t.Run(f.Name, func(t *testing.T) {
			changed := base
			v := reflect.ValueOf(&changed).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString("changed")
			case reflect.Bool:
				v.SetBool(true)
			case reflect.Slice:
				v.Set(reflect.ValueOf([]string{"changed"}))
			default:
				t.Fatalf("no test value for a %s field", v.Kind())
			}
			if sameClient(base.Record(), changed.Record()) {
				t.Fatalf("sameClient ignores %s", f.Name)
			}
		})
	}
}
