//go:build amd64 && gc && !purego

package tensor

import "testing"

// BenchmarkFMAPeak measures one core's FMA throughput: the roofline GEMM is judged against.
func BenchmarkFMAPeak(b *testing.B) {
	const n = 1 << 16
	benchFlops(b, 192*n, func() { fmaPeak(n) })
}
