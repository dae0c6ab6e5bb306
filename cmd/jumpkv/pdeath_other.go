//go:build !linux

package main

import "os/exec"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; the cluster command stops its nodes itself.
func setParentDeathSignal(*exec.Cmd) {}
