package procstat

import (
	"runtime"
	"testing"
	"time"
)

// Busy work shows up as CPU time, and a touched 64 MiB buffer in the resident set.
func TestReadsTheProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resident memory is read from /proc")
	}
	c0 := CPUTime()
	for t0 := time.Now(); time.Since(t0) < 50*time.Millisecond; {
	}
	if d := CPUTime() - c0; d < 20*time.Millisecond {
		t.Errorf("50 ms of busy work counted %v of CPU time", d)
	}
	before := RSSMiB()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1
	}
	if after := RSSMiB(); after-before < 60 {
		t.Errorf("touching 64 MiB moved the resident set from %.0f to %.0f MiB", before, after)
	}
	if peak := PeakRSSMiB(); peak < RSSMiB()-1 {
		t.Errorf("peak %.0f MiB below the current %.0f MiB", peak, RSSMiB())
	}
	runtime.KeepAlive(buf)
}
