// Package commonpasswords is the blocklist of commonly used passwords that
// new passwords are checked against (NIST SP 800-63B-4 §3.1.1.2), shipped
// inside the binary. README.md names its source and licence.
package commonpasswords

import (
	_ "embed"
	"sort"
	"strings"
	"sync"
)

//go:embed passwords.txt
var list string

// sorted is the list split into its lines once, on first use. It is
// derived from the embedded file and never changes after.
var sorted = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(list, "\n"), "\n")
})

// Contains reports whether p, compared without regard to case, is on the
// list. p should already be NFKC-normalised (account.NormalizePassword):
// the list is.
func Contains(p string) bool {
	p = strings.ToLower(p)
	l := sorted()
	i := sort.SearchStrings(l, p)
	return i < len(l) && l[i] == p
}

// Len is how many passwords the list holds.
func Len() int { return len(sorted()) }
