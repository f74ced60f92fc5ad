// Package procstat reads what the running process has used: CPU time and resident memory,
// for benchmarks and `mechlens bench`; and the memory the machine has available, which
// loading checks a model against. It reports 0 where the system does not say, and must
// not do anything but read.
package procstat
