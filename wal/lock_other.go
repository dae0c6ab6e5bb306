//go:build !unix

package wal

import "io"

type noLock struct{}

func (noLock) Close() error { return nil }

// lockDir does not lock where flock is missing.
func lockDir(dir string) (io.Closer, error) { return noLock{}, nil }
