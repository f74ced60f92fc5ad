package tensor

import "testing"

// BenchmarkFMAPeak measures one core's FMA throughput with each kernel set's peak loop: the
// roofline GEMM is judged against.
func BenchmarkFMAPeak(b *testing.B) {
	const n = 1 << 16
	benchKernels(b, func(b *testing.B) {
		benchFlops(b, 192*n, func() { impl.peak(n) })
	})
}
