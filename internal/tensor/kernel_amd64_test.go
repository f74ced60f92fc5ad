//go:build amd64 && gc && !purego

package tensor

import (
	"testing"

	"golang.org/x/sys/cpu"
)

func TestAVX2Dispatch(t *testing.T) {
	want := "generic"
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want = "avx2"
	}
	if got := Kernel(); got != want {
		t.Fatalf("Kernel() = %q on a CPU with AVX2 %v, FMA %v; want %q", got, cpu.X86.HasAVX2, cpu.X86.HasFMA, want)
	}
}
