//go:build amd64 && gc && !purego

package tensor

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:generate sh -c "cd _asm && go run . -dir .."

// Micro-kernels of kernel_avx2_amd64.s, one per row count of the 6×16 tile; see tile.
//
//go:noescape
func gemm6x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16(kc int, a, b, c *float32, ldc int, bias *float32, init int)

// Direct variants: A read in place, row r at a[r·lda:]; see tile.
//
//go:noescape
func gemm6x16d(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16d(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16d(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16d(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16d(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16d(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

// fmaPeak runs n iterations of 12 independent 8-wide FMAs: 192·n flops at the core's peak.
func fmaPeak(n int)

var (
	avx2Tiles = [tileM + 1]func(kc int, a, b, c *float32, ldc int, bias *float32, init int){
		1: gemm1x16, 2: gemm2x16, 3: gemm3x16, 4: gemm4x16, 5: gemm5x16, 6: gemm6x16,
	}
	avx2TilesDirect = [tileM + 1]func(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int){
		1: gemm1x16d, 2: gemm2x16d, 3: gemm3x16d, 4: gemm4x16d, 5: gemm5x16d, 6: gemm6x16d,
	}
)

// Vector kernels of vector_avx2_amd64.s. Those with n "a multiple of 8" leave the tail to
// their wrapper, which runs it through an 8-lane stack buffer so every element takes the
// same arithmetic path.
//
//go:noescape
func geluAVX2(dst, src *float32, n int)

//go:noescape
func expSumAVX2(x *float32, n int, m float32) float64

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

var avx2Kernels = &kernelSet{
	name:   "avx2",
	peak:   fmaPeak,
	tile:   tileAVX2,
	dot:    dotAVX2Slices,
	axpy:   axpyAVX2Slices,
	gelu:   geluTanhAVX2,
	maxf:   maxAVX2Slice,
	expSum: expSumAVX2Slice,
	scale:  scaleAVX2Slice,
}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernelSets = append(kernelSets, avx2Kernels)
		impl = avx2Kernels
	}
}

// tileAVX2 checks every extent the assembly touches before handing it raw pointers.
func tileAVX2(mr, kc int, a []float32, lda int, b, c []float32, ldc int, bias []float32, init int) {
	_ = b[kc*tileN-1]
	_ = c[(mr-1)*ldc+tileN-1]
	var bp *float32
	if init == initBias {
		_ = bias[tileN-1]
		bp = &bias[0]
	}
	if lda > 0 {
		_ = a[(mr-1)*lda+kc-1]
		avx2TilesDirect[mr](kc, &a[0], lda, &b[0], &c[0], ldc, bp, init)
		return
	}
	_ = a[kc*tileM-1]
	avx2Tiles[mr](kc, &a[0], &b[0], &c[0], ldc, bp, init)
}

func dotAVX2Slices(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotAVX2(&a[0], &b[0], len(a))
}

func axpyAVX2Slices(alpha float32, x, y []float32) {
	if len(x) == 0 {
		return
	}
	_ = y[len(x)-1]
	axpyAVX2(alpha, &x[0], &y[0], len(x))
}

func geluTanhAVX2(dst, src []float32) {
	n := len(src)
	n8 := n &^ 7
	if n8 > 0 {
		_ = dst[n8-1]
		geluAVX2(&dst[0], &src[0], n8)
	}
	if n > n8 {
		var tail [8]float32
		copy(tail[:], src[n8:])
		geluAVX2(&tail[0], &tail[0], 8)
		copy(dst[n8:n], tail[:])
	}
}

func maxAVX2Slice(x []float32) float32 {
	n8 := len(x) &^ 7
	m := float32(math.Inf(-1))
	if n8 > 0 {
		m = maxAVX2(&x[0], n8)
	}
	for _, v := range x[n8:] {
		m = max(m, v)
	}
	return m
}

func expSumAVX2Slice(x []float32, m float32) float64 {
	n := len(x)
	n8 := n &^ 7
	var s float64
	if n8 > 0 {
		s = expSumAVX2(&x[0], n8, m)
	}
	if n > n8 {
		// −Inf padding adds exp = 0 to the sum, except when m is −Inf too, and then the
		// real elements (all −Inf or NaN) make the sum NaN anyway.
		tail := [8]float32{}
		for i := range tail {
			tail[i] = float32(math.Inf(-1))
		}
		copy(tail[:], x[n8:])
		s += expSumAVX2(&tail[0], 8, m)
		copy(x[n8:], tail[:])
	}
	return s
}

func scaleAVX2Slice(x []float32, s float32) {
	n8 := len(x) &^ 7
	if n8 > 0 {
		scaleAVX2(&x[0], n8, s)
	}
	for i := n8; i < len(x); i++ {
		x[i] *= s
	}
}
