//go:build (amd64 || arm64) && gc && !purego

package tensor

// The 6×16 assembly micro-kernels (AVX2 and NEON) for B elements E (float32, or bfloat16
// widened as it is loaded): packed A, and A read in place with row stride lda.
type (
	tile6x16[E float32 | uint16]  = func(kc int, a *float32, b *E, c *float32, ldc int, bias *float32, init int)
	tile6x16d[E float32 | uint16] = func(kc int, a *float32, lda int, b *E, c *float32, ldc int, bias *float32, init int)
)

// tile6x16Of returns kernelSet.tile over the kernels per row count: it checks every extent
// the assembly touches before handing it raw pointers.
func tile6x16Of[E float32 | uint16](packed *[tileM + 1]tile6x16[E], direct *[tileM + 1]tile6x16d[E]) func(mr, np, kc int, a []float32, lda, astride int, b []E, bstride int, c []float32, ldc int, bias []float32, init int) {
	return func(mr, _, kc int, a []float32, lda, _ int, b []E, _ int, c []float32, ldc int, bias []float32, init int) {
		_ = b[kc*tileN-1]
		bp := checkTile(mr, 1, kc, a, lda, 0, c, ldc, bias, init)
		if lda > 0 {
			direct[mr](kc, &a[0], lda, &b[0], &c[0], ldc, bp, init)
			return
		}
		packed[mr](kc, &a[0], &b[0], &c[0], ldc, bp, init)
	}
}

// checkTile panics unless a, c and bias hold every element an assembly kernel reads or
// writes for an mr×(16·np) tile (see kernelSet.tile), and returns the bias pointer it takes
// (nil unless init is initBias).
func checkTile(mr, np, kc int, a []float32, lda, astride int, c []float32, ldc int, bias []float32, init int) *float32 {
	_ = c[(mr-1)*ldc+np*tileN-1]
	if lda > 0 {
		_ = a[(mr-1)*lda+kc-1]
	} else {
		_ = a[(mr-1)/tileM*astride+kc*tileM-1]
	}
	if init != initBias {
		return nil
	}
	_ = bias[np*tileN-1]
	return &bias[0]
}
