//go:build arm64 && gc && !purego

package tensor

// Micro-kernels of kernel_neon_arm64.s (see _asm/neon.go), one per row count of the 6×16
// tile, with the arguments of the amd64 ones; see tileNEON.
//
//go:noescape
func gemm6x16n(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16n(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16n(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16n(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16n(kc int, a, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16n(kc int, a, b, c *float32, ldc int, bias *float32, init int)

// Direct variants: A read in place, row r at a[r·lda:].
//
//go:noescape
func gemm6x16nd(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16nd(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16nd(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16nd(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16nd(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16nd(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int)

// fmaPeak runs n iterations of 24 independent 4-wide FMLAs: 192·n flops.
func fmaPeak(n int)

var (
	neonTiles = [tileM + 1]func(kc int, a, b, c *float32, ldc int, bias *float32, init int){
		1: gemm1x16n, 2: gemm2x16n, 3: gemm3x16n, 4: gemm4x16n, 5: gemm5x16n, 6: gemm6x16n,
	}
	neonTilesDirect = [tileM + 1]func(kc int, a *float32, lda int, b, c *float32, ldc int, bias *float32, init int){
		1: gemm1x16nd, 2: gemm2x16nd, 3: gemm3x16nd, 4: gemm4x16nd, 5: gemm5x16nd, 6: gemm6x16nd,
	}
)

// neonKernels is the generic set with NEON matrix products. Every arm64 CPU has NEON
// (Advanced SIMD is part of the base architecture), so it is always selected.
var neonKernels = func() *kernelSet {
	ks := *genericKernels
	ks.name, ks.tile, ks.peak = "neon", tileNEON, fmaPeak
	return &ks
}()

func init() {
	kernelSets = append(kernelSets, neonKernels)
	impl = neonKernels
}

// tileNEON checks every extent the assembly touches before handing it raw pointers.
func tileNEON(mr, _, kc int, a []float32, lda, _ int, b []float32, _ int, c []float32, ldc int, bias []float32, init int) {
	_ = b[kc*tileN-1]
	_ = c[(mr-1)*ldc+tileN-1]
	var bp *float32
	if init == initBias {
		_ = bias[tileN-1]
		bp = &bias[0]
	}
	if lda > 0 {
		_ = a[(mr-1)*lda+kc-1]
		neonTilesDirect[mr](kc, &a[0], lda, &b[0], &c[0], ldc, bp, init)
		return
	}
	_ = a[kc*tileM-1]
	neonTiles[mr](kc, &a[0], &b[0], &c[0], ldc, bp, init)
}
