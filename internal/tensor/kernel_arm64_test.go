//go:build arm64 && gc && !purego

package tensor

import "testing"

func TestNEONDispatch(t *testing.T) {
	if got := Kernel(); got != "neon" {
		t.Fatalf("Kernel() = %q on arm64, want neon", got)
	}
}
