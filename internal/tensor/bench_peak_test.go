package tensor

import "testing"

// BenchmarkFMAPeak measures one core's FMA throughput with each kernel set's peak loop: the
// roofline GEMM is judged against; and, where it differs, the roofline of products with
// bfloat16 weights (VDPBF16PS on avx512bf16).
func BenchmarkFMAPeak(b *testing.B) {
	const n = 1 << 16
	benchKernels(b, func(b *testing.B) {
		b.Run("weights=f32", func(b *testing.B) {
			benchFlops(b, 192*n, func() { impl.peak(n) })
		})
		if impl.peakBF16 != nil {
			b.Run("weights=bf16", func(b *testing.B) {
				benchFlops(b, 192*n, func() { impl.peakBF16(n) })
			})
		}
	})
}
