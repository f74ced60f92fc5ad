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

// The same with B as bfloat16 panels, widened to float32 as they are loaded.
//
//go:noescape
func gemm6x16b(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16b(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16b(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16b(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16b(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16b(kc int, a *float32, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16bd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16bd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16bd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16bd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16bd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16bd(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, bias *float32, init int)

// fmaPeak runs n iterations of 12 independent 8-wide FMAs: 192·n flops at the core's peak.
func fmaPeak(n int)

// AVX-512 micro-kernels of kernel_avx512_amd64.s, per row count (1–12) and width (16 or
// 32 columns), with A packed (z) or read in place (zd); see tileAVX512Of. They accumulate
// exactly as the AVX2 ones (one FMA chain per element, k in order), 16 lanes at a time.
//
//go:noescape
func gemm12x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x32z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16z(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x32zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16zd(kc int, a *float32, lda, astride int, b *float32, bstride int, c *float32, ldc int, bias *float32, init int)

// The AVX-512 kernels with B as bfloat16 panels (bstride in bfloat16 elements).
//
//go:noescape
func gemm12x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x32zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16zb(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x32zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16zbd(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

// The avx512bf16 set's kernels for bfloat16 B, per row count and width: A packed as
// bfloat16 pairs (packAPairs), VDPBF16PS (see _asm/avx512bf16.go).
//
//go:noescape
func gemm12x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x32zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm12x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm11x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm10x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm9x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm8x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm7x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm6x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm5x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm4x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm3x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm2x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

//go:noescape
func gemm1x16zp(kc int, a *float32, lda, astride int, b *uint16, bstride int, c *float32, ldc int, bias *float32, init int)

// packPairs512 is avx512bf16's kernelSet.packPairs.
//
//go:noescape
func packPairs512(dst, a *float32, lda, groups int)

// dotPeak512 runs n/4 iterations of 12 independent VDPBF16PS: 192·n flops.
func dotPeak512(n int)

// fmaPeak512 runs n/2 iterations of 12 independent 16-wide FMAs: 192·n flops.
func fmaPeak512(n int)

var (
	avx2Tiles = [tileM + 1]tile6x16[float32]{
		1: gemm1x16, 2: gemm2x16, 3: gemm3x16, 4: gemm4x16, 5: gemm5x16, 6: gemm6x16,
	}
	avx2TilesDirect = [tileM + 1]tile6x16d[float32]{
		1: gemm1x16d, 2: gemm2x16d, 3: gemm3x16d, 4: gemm4x16d, 5: gemm5x16d, 6: gemm6x16d,
	}
	avx2TilesBF16 = [tileM + 1]tile6x16[uint16]{
		1: gemm1x16b, 2: gemm2x16b, 3: gemm3x16b, 4: gemm4x16b, 5: gemm5x16b, 6: gemm6x16b,
	}
	avx2TilesDirectBF16 = [tileM + 1]tile6x16d[uint16]{
		1: gemm1x16bd, 2: gemm2x16bd, 3: gemm3x16bd, 4: gemm4x16bd, 5: gemm5x16bd, 6: gemm6x16bd,
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
	name:     "avx2",
	mt:       tileM,
	np:       1,
	peak:     fmaPeak,
	tile:     tile6x16Of(&avx2Tiles, &avx2TilesDirect),
	tileBF16: tile6x16Of(&avx2TilesBF16, &avx2TilesDirectBF16),
	dot:      dotAVX2Slices,
	axpy:     axpyAVX2Slices,
	gelu:     geluTanhAVX2,
	maxf:     maxAVX2Slice,
	expSum:   expSumAVX2Slice,
	scale:    scaleAVX2Slice,
}

// avx512Kernels is the AVX2 set with AVX-512 matrix products: a 12×32 register tile
// (24 of the 32 zmm registers accumulate) over the same packed operands. The vector
// kernels stay AVX2: they are memory- or latency-bound at these sizes.
var avx512Kernels = func() *kernelSet {
	ks := *avx2Kernels
	ks.name, ks.mt, ks.np = "avx512", 2*tileM, 2
	ks.tile, ks.tileBF16, ks.peak = tileAVX512Of(&avx512Tiles), tileAVX512Of(&avx512TilesBF16), fmaPeak512
	return &ks
}()

// avx512bf16Kernels is the avx512 set with VDPBF16PS for bfloat16 weights: a product of a
// bfloat16 Packed rounds A to bfloat16 as it packs it and adds two products per lane and
// instruction, twice the float32 FMA rate. Float32 products are avx512's, bit for bit.
var avx512bf16Kernels = func() *kernelSet {
	ks := *avx512Kernels
	ks.name, ks.peakBF16 = "avx512bf16", dotPeak512
	ks.packPairs = func(dst, a []float32, lda, groups int) {
		if groups == 0 {
			return
		}
		_ = dst[groups*16*tileM-1]
		_ = a[(tileM-1)*lda+groups*32-1]
		packPairs512(&dst[0], &a[0], lda, groups)
	}
	ks.tileBF16 = func(mr, np, kc int, a []float32, lda, astride int, b []uint16, bstride int, c []float32, ldc int, bias []float32, init int) {
		if lda > 0 {
			panic("tensor: avx512bf16 reads A packed as bfloat16 pairs, never in place")
		}
		_ = b[(np-1)*bstride+kc*tileN-1]
		bp := checkTile(mr, np, kc, a, 0, astride, c, ldc, bias, init)
		avx512TilesPairs[np-1][mr](kc, &a[0], 0, astride, &b[0], bstride, &c[0], ldc, bp, init)
	}
	return &ks
}()

var avx512TilesPairs = [2][2*tileM + 1]tile512[uint16]{
	{1: gemm1x16zp, 2: gemm2x16zp, 3: gemm3x16zp, 4: gemm4x16zp, 5: gemm5x16zp, 6: gemm6x16zp, 7: gemm7x16zp, 8: gemm8x16zp, 9: gemm9x16zp, 10: gemm10x16zp, 11: gemm11x16zp, 12: gemm12x16zp},
	{1: gemm1x32zp, 2: gemm2x32zp, 3: gemm3x32zp, 4: gemm4x32zp, 5: gemm5x32zp, 6: gemm6x32zp, 7: gemm7x32zp, 8: gemm8x32zp, 9: gemm9x32zp, 10: gemm10x32zp, 11: gemm11x32zp, 12: gemm12x32zp},
}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernelSets = append(kernelSets, avx2Kernels)
		impl = avx2Kernels
	}
	// Only AVX512F instructions are used; HasAVX512F also means the OS saves zmm state.
	if cpu.X86.HasAVX512F && impl == avx2Kernels {
		kernelSets = append(kernelSets, avx512Kernels)
		impl = avx512Kernels
	}
	// VPERMW is AVX512BW.
	if cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX512BW && impl == avx512Kernels {
		kernelSets = append(kernelSets, avx512bf16Kernels)
		impl = avx512bf16Kernels
	}
}

type tile512[E float32 | uint16] = func(kc int, a *float32, lda, astride int, b *E, bstride int, c *float32, ldc int, bias *float32, init int)

// avx512Tiles[d][np-1][mr] is the kernel for mr rows and np panels, A in place when d is 1;
// avx512TilesBF16 the same for bfloat16 B.
var (
	avx512Tiles = [2][2][2*tileM + 1]tile512[float32]{
		{
			{1: gemm1x16z, 2: gemm2x16z, 3: gemm3x16z, 4: gemm4x16z, 5: gemm5x16z, 6: gemm6x16z, 7: gemm7x16z, 8: gemm8x16z, 9: gemm9x16z, 10: gemm10x16z, 11: gemm11x16z, 12: gemm12x16z},
			{1: gemm1x32z, 2: gemm2x32z, 3: gemm3x32z, 4: gemm4x32z, 5: gemm5x32z, 6: gemm6x32z, 7: gemm7x32z, 8: gemm8x32z, 9: gemm9x32z, 10: gemm10x32z, 11: gemm11x32z, 12: gemm12x32z},
		},
		{
			{1: gemm1x16zd, 2: gemm2x16zd, 3: gemm3x16zd, 4: gemm4x16zd, 5: gemm5x16zd, 6: gemm6x16zd, 7: gemm7x16zd, 8: gemm8x16zd, 9: gemm9x16zd, 10: gemm10x16zd, 11: gemm11x16zd, 12: gemm12x16zd},
			{1: gemm1x32zd, 2: gemm2x32zd, 3: gemm3x32zd, 4: gemm4x32zd, 5: gemm5x32zd, 6: gemm6x32zd, 7: gemm7x32zd, 8: gemm8x32zd, 9: gemm9x32zd, 10: gemm10x32zd, 11: gemm11x32zd, 12: gemm12x32zd},
		},
	}
	avx512TilesBF16 = [2][2][2*tileM + 1]tile512[uint16]{
		{
			{1: gemm1x16zb, 2: gemm2x16zb, 3: gemm3x16zb, 4: gemm4x16zb, 5: gemm5x16zb, 6: gemm6x16zb, 7: gemm7x16zb, 8: gemm8x16zb, 9: gemm9x16zb, 10: gemm10x16zb, 11: gemm11x16zb, 12: gemm12x16zb},
			{1: gemm1x32zb, 2: gemm2x32zb, 3: gemm3x32zb, 4: gemm4x32zb, 5: gemm5x32zb, 6: gemm6x32zb, 7: gemm7x32zb, 8: gemm8x32zb, 9: gemm9x32zb, 10: gemm10x32zb, 11: gemm11x32zb, 12: gemm12x32zb},
		},
		{
			{1: gemm1x16zbd, 2: gemm2x16zbd, 3: gemm3x16zbd, 4: gemm4x16zbd, 5: gemm5x16zbd, 6: gemm6x16zbd, 7: gemm7x16zbd, 8: gemm8x16zbd, 9: gemm9x16zbd, 10: gemm10x16zbd, 11: gemm11x16zbd, 12: gemm12x16zbd},
			{1: gemm1x32zbd, 2: gemm2x32zbd, 3: gemm3x32zbd, 4: gemm4x32zbd, 5: gemm5x32zbd, 6: gemm6x32zbd, 7: gemm7x32zbd, 8: gemm8x32zbd, 9: gemm9x32zbd, 10: gemm10x32zbd, 11: gemm11x32zbd, 12: gemm12x32zbd},
		},
	}
)

// tileAVX512Of returns kernelSet.tile over tiles, for B elements E: it checks every extent
// the assembly touches before handing it raw pointers.
func tileAVX512Of[E float32 | uint16](tiles *[2][2][2*tileM + 1]tile512[E]) func(mr, np, kc int, a []float32, lda, astride int, b []E, bstride int, c []float32, ldc int, bias []float32, init int) {
	return func(mr, np, kc int, a []float32, lda, astride int, b []E, bstride int, c []float32, ldc int, bias []float32, init int) {
		_ = b[(np-1)*bstride+kc*tileN-1]
		bp := checkTile(mr, np, kc, a, lda, astride, c, ldc, bias, init)
		d := 0
		if lda > 0 {
			d = 1
		}
		tiles[d][np-1][mr](kc, &a[0], lda, astride, &b[0], bstride, &c[0], ldc, bp, init)
	}
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
