//go:build arm64 && gc && !purego

package tensor

// Micro-kernels of kernel_neon_arm64.s (see _asm/neon.go), one per row count of the 6×16
// tile, with the arguments of the amd64 ones; see tile6x16Of.
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

// The same with B as bfloat16 panels, widened to float32 as they are loaded.
//
//go:noescape
func gemm6x16nb(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16nb(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16nb(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16nb(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16nb(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16nb(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16nbd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16nbd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16nbd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16nbd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16nbd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16nbd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

// fmaPeak runs n iterations of 24 independent 4-wide FMLAs: 192·n flops.
func fmaPeak(n int)

var (
	neonTiles = [tileM + 1]tile6x16[float32]{
		1: gemm1x16n, 2: gemm2x16n, 3: gemm3x16n, 4: gemm4x16n, 5: gemm5x16n, 6: gemm6x16n,
	}
	neonTilesDirect = [tileM + 1]tile6x16d[float32]{
		1: gemm1x16nd, 2: gemm2x16nd, 3: gemm3x16nd, 4: gemm4x16nd, 5: gemm5x16nd, 6: gemm6x16nd,
	}
	neonTilesBF16 = [tileM + 1]tile6x16[uint16]{
		1: gemm1x16nb, 2: gemm2x16nb, 3: gemm3x16nb, 4: gemm4x16nb, 5: gemm5x16nb, 6: gemm6x16nb,
	}
	neonTilesDirectBF16 = [tileM + 1]tile6x16d[uint16]{
		1: gemm1x16nbd, 2: gemm2x16nbd, 3: gemm3x16nbd, 4: gemm4x16nbd, 5: gemm5x16nbd, 6: gemm6x16nbd,
	}
)

// neonKernels is the generic set with NEON matrix products. Every arm64 CPU has NEON
// (Advanced SIMD is part of the base architecture), so it is always selected.
var neonKernels = func() *kernelSet {
	ks := *genericKernels
	ks.name, ks.peak = "neon", fmaPeak
	ks.tile = tile6x16Of(&neonTiles, &neonTilesDirect)
	ks.tileBF16 = tile6x16Of(&neonTilesBF16, &neonTilesDirectBF16)
	return &ks
}()

func init() {
	kernelSets = append(kernelSets, neonKernels)
	impl = neonKernels
}
