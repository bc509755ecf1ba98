// Package prereq is the one place a test decides what to do when
// something it needs from the machine is missing (a program such as
// chromium or node, installed packages, a server): on a developer machine
// it skips and says what is missing and how to install it; under CI
// (CI set, and not "false" or "0") it fails, so that CI cannot pass
// without running every test.
//
// A skip that is a decision rather than an accident of the machine
// ("the embedded Redis cannot kill connections") calls t.Skip directly
// and says why.
package prereq
