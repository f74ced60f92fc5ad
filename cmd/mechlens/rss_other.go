//go:build !unix

package main

// peakRSSMB is unknown where getrusage is missing.
func peakRSSMB() float64 { return 0 }

// rssMB is unknown where /proc is missing.
func rssMB() float64 { return 0 }
