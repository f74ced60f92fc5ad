//go:build !unix

package procstat

import "time"

// CPUTime is unknown here.
func CPUTime() time.Duration { return 0 }

// PeakRSSMiB is unknown here.
func PeakRSSMiB() float64 { return 0 }

// RSSMiB is unknown here.
func RSSMiB() float64 { return 0 }

// AvailableMiB is 0: this system does not say.
func AvailableMiB() float64 { return 0 }
