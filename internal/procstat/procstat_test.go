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
	// Spin until the process has been given 30 ms of CPU (on a loaded machine that takes
	// longer than 30 ms of wall time); a reader that does not count it never gets there.
	c0 := CPUTime()
	for t0 := time.Now(); CPUTime()-c0 < 30*time.Millisecond; {
		if time.Since(t0) > 20*time.Second {
			t.Fatalf("20 s of busy work counted %v of CPU time", CPUTime()-c0)
		}
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
