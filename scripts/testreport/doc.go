// Command testreport reads `go test -json` on stdin and prints what
// `go test` prints for a list of packages (one line per package, the full
// output of failing tests and build errors) plus every skipped test with
// its reason, which plain `go test ./...` hides. It exits 1 when a test,
// a package or a build failed, or when a package never reported a result
// (the test binary was killed).
//
// scripts/test, the README's test command, runs it:
//
//	go test -race -json ./... | go run ./scripts/testreport
package main
