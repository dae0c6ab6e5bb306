//go:build !unix

package bench

import "time"

// selfCPU is not implemented here: bench reports no CPU figures.
func selfCPU() (time.Duration, error) { return 0, ErrNoCPUTimes }
