// Package procstat reads what the running process has used: CPU time and resident memory,
// for benchmarks and `mechlens bench`. It reports 0 where the system does not say, and must
// not do anything but read.
package procstat
