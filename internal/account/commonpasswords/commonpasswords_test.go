package commonpasswords

import (
	"sort"
	"testing"
)

func TestContains(t *testing.T) {
	for p, want := range map[string]bool{
		"password":                     true,
		"PassWord1":                    true, // case does not help
		"12345678":                     true,
		"qwertyuiop":                   true,
		"iloveyou":                     true,
		"":                             false,
		"zzzz":                         false,
		"correct horse battery staple": false,
	} {
		if got := Contains(p); got != want {
			t.Errorf("Contains(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestListIsSortedAndSizable(t *testing.T) {
	l := sorted()
	if !sort.StringsAreSorted(l) {
		t.Fatal("passwords.txt is not sorted by byte: Contains would miss entries")
	}
	if len(l) < 10000 {
		t.Fatalf("only %d entries", len(l))
	}
}
