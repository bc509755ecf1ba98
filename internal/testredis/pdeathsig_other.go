//go:build !linux

package testredis

import "os/exec"

// setParentDeathSignal has no equivalent here; call Main from TestMain so
// servers are stopped when the tests end.
func setParentDeathSignal(*exec.Cmd) {}
