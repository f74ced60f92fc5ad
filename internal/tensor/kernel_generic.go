package tensor

// kernelSet is one implementation of the inner loops. impl is the one in use: the generic
// set unless an init (kernel_amd64.go) finds a faster one for this CPU. Tests run every
// entry of kernelSets by swapping impl.
type kernelSet struct {
	name string
	// mt and np are the register tile: up to mt rows (a multiple of tileM) by np B
	// micro-panels.
	mt, np int
	// tile computes an mr×(16·np) tile of C (row stride ldc), mr ≤ mt, from np packed B
	// micro-panels b[h·bstride:][kc][16] and A: packed, rows 6q..6q+5 being the micro-panel
	// a[q·astride:][kc][6], when lda is 0, else rows in place, row r being
	// a[r·lda : r·lda+kc]. Each element is one chain over k in order started at zero or at
	// bias [16·np], then stored, or added to C (init).
	tile func(mr, np, kc int, a []float32, lda, astride int, b []float32, bstride int, c []float32, ldc int, bias []float32, init int)
	dot  func(a, b []float32) float32
	axpy func(alpha float32, x, y []float32)
	gelu func(dst, src []float32)
	// Softmax pieces: maxf returns max(x) (−Inf when empty), expSum sets x[i] = exp32(x[i]−m)
	// and returns Σ x[i] in float64, scale multiplies x by s.
	maxf   func(x []float32) float32
	expSum func(x []float32, m float32) float64
	scale  func(x []float32, s float32)
	// peak runs n rounds of 96 independent multiply-adds (192·n flops) as fast as this
	// kernel set can: the roofline its products are judged against.
	peak func(n int)
}

var genericKernels = &kernelSet{
	name:   "generic",
	mt:     tileM,
	np:     1,
	peak:   peakGeneric,
	tile:   tileGeneric,
	dot:    dotGeneric,
	axpy:   axpyGeneric,
	gelu:   geluTanhGeneric,
	maxf:   maxGeneric,
	expSum: expSumGeneric,
	scale:  scaleGeneric,
}

var (
	impl       = genericKernels
	kernelSets = []*kernelSet{genericKernels}
)

// tileGeneric is the portable micro-kernel: the same contract as the assembly one, in plain
// Go (multiply-adds fused or not as the compiler decides for this architecture).
// It walks the tile in 2×4 blocks whose eight accumulators are locals, so the compiler
// keeps them in registers.
func tileGeneric(mr, _, kc int, a []float32, lda, _ int, b []float32, _ int, c []float32, ldc int, bias []float32, init int) {
	b = b[:kc*tileN]
	rs, ks := 1, tileM // a[r][k] is a[r·rs + k·ks]
	if lda > 0 {
		rs, ks = lda, 1
	}
	for r := 0; r < mr; r += 2 {
		two := r+1 < mr
		c0 := c[r*ldc : r*ldc+tileN]
		c1 := c0 // row r+1, or r again when mr is odd (computed twice, stored once)
		if two {
			c1 = c[(r+1)*ldc : (r+1)*ldc+tileN]
		}
		r1 := r
		if two {
			r1 = r + 1
		}
		for j := 0; j < tileN; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			if init == initBias {
				s00, s01, s02, s03 = bias[j], bias[j+1], bias[j+2], bias[j+3]
				s10, s11, s12, s13 = s00, s01, s02, s03
			}
			for k := range kc {
				bk := (*[4]float32)(b[k*tileN+j:])
				a0, a1 := a[k*ks+r*rs], a[k*ks+r1*rs]
				s00 += a0 * bk[0]
				s01 += a0 * bk[1]
				s02 += a0 * bk[2]
				s03 += a0 * bk[3]
				s10 += a1 * bk[0]
				s11 += a1 * bk[1]
				s12 += a1 * bk[2]
				s13 += a1 * bk[3]
			}
			if init == initLoad {
				s00, s01, s02, s03 = c0[j]+s00, c0[j+1]+s01, c0[j+2]+s02, c0[j+3]+s03
				s10, s11, s12, s13 = c1[j]+s10, c1[j+1]+s11, c1[j+2]+s12, c1[j+3]+s13
			}
			c0[j], c0[j+1], c0[j+2], c0[j+3] = s00, s01, s02, s03
			if two {
				c1[j], c1[j+1], c1[j+2], c1[j+3] = s10, s11, s12, s13
			}
		}
	}
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// peakSink keeps peakGeneric's result alive so the compiler cannot drop the loop.
var peakSink float32

func peakGeneric(n int) {
	var acc [12]float32
	x, y := float32(0.999), float32(1e-3)
	for i := 0; i < n; i++ {
		for r := 0; r < 8; r++ { // 8 × 12 = 96 multiply-adds a round, as the AVX2 loop
			for j := range acc {
				acc[j] = acc[j]*x + y
			}
		}
	}
	peakSink = acc[0] + acc[11]
}
