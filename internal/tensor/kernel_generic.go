package tensor

// kernelSet is one implementation of the inner loops. impl is the one in use: the generic
// set unless an init (kernel_amd64.go, kernel_arm64.go) finds a faster one for this CPU.
// kernelSets lists those available, slowest first; tests run every entry by swapping impl.
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
	// tileBF16 is tile with bfloat16 B panels, each element widened to its float32 value: the
	// result is bitwise tile's on the widened panels. Without it (the generic set), MatMul
	// widens the panels into a buffer once per column of tiles and runs tile on them.
	tileBF16 func(mr, np, kc int, a []float32, lda, astride int, b []uint16, bstride int, c []float32, ldc int, bias []float32, init int)
	// packPairs, when set, says tileBF16 reads A packed as bfloat16 pairs (packAPairs), never
	// in place, and multiplies in bfloat16 (avx512bf16's VDPBF16PS, not the widened float32
	// chain); it packs groups of 16 pairs of a full 6-row micro-panel, rows a[r·lda:], into
	// dst: packAPairs' bulk.
	packPairs func(dst, a []float32, lda, groups int)
	dot       func(a, b []float32) float32
	axpy      func(alpha float32, x, y []float32)
	gelu      func(dst, src []float32)
	// Softmax pieces: maxf returns max(x) (−Inf when empty), expSum sets x[i] = exp32(x[i]−m)
	// and returns Σ x[i] in float64, scale multiplies x by s.
	maxf   func(x []float32) float32
	expSum func(x []float32, m float32) float64
	scale  func(x []float32, s float32)
	// peak runs n rounds of 96 independent multiply-adds (192·n flops, n a multiple of
	// blockK) as fast as this kernel set can: the roofline its products are judged against.
	peak func(n int)
	// peakBF16 is peak for products with bfloat16 weights where their roofline differs
	// (VDPBF16PS: two multiply-adds per lane), else nil.
	peakBF16 func(n int)
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
// Go (multiply-adds fused or not as the compiler decides for this architecture). It runs
// row by row, eight columns at a time (row8), with the row of A made contiguous first.
func tileGeneric(mr, _, kc int, a []float32, lda, _ int, b []float32, _ int, c []float32, ldc int, bias []float32, init int) {
	b = b[:kc*tileN]
	var buf [blockK]float32 // a packed row of A; kc ≤ blockK
	for r := 0; r < mr; r++ {
		var arow []float32
		if lda > 0 {
			arow = a[r*lda : r*lda+kc]
		} else {
			arow = buf[:kc]
			for k := range arow {
				arow[k] = a[k*tileM+r]
			}
		}
		crow := c[r*ldc : r*ldc+tileN]
		for j := 0; j < tileN; j += 8 {
			var s [8]float32
			if init == initBias {
				s = [8]float32(bias[j:])
			}
			row8(&s, arow, b[j:])
			if init == initLoad {
				for i, v := range crow[j : j+8] {
					s[i] += v
				}
			}
			*(*[8]float32)(crow[j:]) = s
		}
	}
}

// row8 adds Σ_k arow[k]·b[k·16 + 0..7] to s, each element one chain over k in order. The
// eight sums are locals and k is unrolled by eight with one bounds check per step, which
// lets the compiler keep everything in registers: about 9 GFLOP/s on one core of the
// project's machine against 4.7 for the 2×4 blocking this replaced (a 2×4 or 3×4 block
// needs more registers than amd64's 16, and the spills cost more than the extra loads
// of B; unrolling by eight measured 8% faster than by four).
func row8(s *[8]float32, arow, b []float32) {
	s0, s1, s2, s3, s4, s5, s6, s7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	k := 0
	for ; k+8 <= len(arow); k += 8 {
		ak := (*[8]float32)(arow[k:])
		bk := (*[7*tileN + 8]float32)(b[k*tileN:])
		a0 := ak[0]
		s0 += a0 * bk[0*tileN+0]
		s1 += a0 * bk[0*tileN+1]
		s2 += a0 * bk[0*tileN+2]
		s3 += a0 * bk[0*tileN+3]
		s4 += a0 * bk[0*tileN+4]
		s5 += a0 * bk[0*tileN+5]
		s6 += a0 * bk[0*tileN+6]
		s7 += a0 * bk[0*tileN+7]
		a1 := ak[1]
		s0 += a1 * bk[1*tileN+0]
		s1 += a1 * bk[1*tileN+1]
		s2 += a1 * bk[1*tileN+2]
		s3 += a1 * bk[1*tileN+3]
		s4 += a1 * bk[1*tileN+4]
		s5 += a1 * bk[1*tileN+5]
		s6 += a1 * bk[1*tileN+6]
		s7 += a1 * bk[1*tileN+7]
		a2 := ak[2]
		s0 += a2 * bk[2*tileN+0]
		s1 += a2 * bk[2*tileN+1]
		s2 += a2 * bk[2*tileN+2]
		s3 += a2 * bk[2*tileN+3]
		s4 += a2 * bk[2*tileN+4]
		s5 += a2 * bk[2*tileN+5]
		s6 += a2 * bk[2*tileN+6]
		s7 += a2 * bk[2*tileN+7]
		a3 := ak[3]
		s0 += a3 * bk[3*tileN+0]
		s1 += a3 * bk[3*tileN+1]
		s2 += a3 * bk[3*tileN+2]
		s3 += a3 * bk[3*tileN+3]
		s4 += a3 * bk[3*tileN+4]
		s5 += a3 * bk[3*tileN+5]
		s6 += a3 * bk[3*tileN+6]
		s7 += a3 * bk[3*tileN+7]
		a4 := ak[4]
		s0 += a4 * bk[4*tileN+0]
		s1 += a4 * bk[4*tileN+1]
		s2 += a4 * bk[4*tileN+2]
		s3 += a4 * bk[4*tileN+3]
		s4 += a4 * bk[4*tileN+4]
		s5 += a4 * bk[4*tileN+5]
		s6 += a4 * bk[4*tileN+6]
		s7 += a4 * bk[4*tileN+7]
		a5 := ak[5]
		s0 += a5 * bk[5*tileN+0]
		s1 += a5 * bk[5*tileN+1]
		s2 += a5 * bk[5*tileN+2]
		s3 += a5 * bk[5*tileN+3]
		s4 += a5 * bk[5*tileN+4]
		s5 += a5 * bk[5*tileN+5]
		s6 += a5 * bk[5*tileN+6]
		s7 += a5 * bk[5*tileN+7]
		a6 := ak[6]
		s0 += a6 * bk[6*tileN+0]
		s1 += a6 * bk[6*tileN+1]
		s2 += a6 * bk[6*tileN+2]
		s3 += a6 * bk[6*tileN+3]
		s4 += a6 * bk[6*tileN+4]
		s5 += a6 * bk[6*tileN+5]
		s6 += a6 * bk[6*tileN+6]
		s7 += a6 * bk[6*tileN+7]
		a7 := ak[7]
		s0 += a7 * bk[7*tileN+0]
		s1 += a7 * bk[7*tileN+1]
		s2 += a7 * bk[7*tileN+2]
		s3 += a7 * bk[7*tileN+3]
		s4 += a7 * bk[7*tileN+4]
		s5 += a7 * bk[7*tileN+5]
		s6 += a7 * bk[7*tileN+6]
		s7 += a7 * bk[7*tileN+7]
	}
	for ; k < len(arow); k++ {
		a0, bk := arow[k], (*[8]float32)(b[k*tileN:])
		s0 += a0 * bk[0]
		s1 += a0 * bk[1]
		s2 += a0 * bk[2]
		s3 += a0 * bk[3]
		s4 += a0 * bk[4]
		s5 += a0 * bk[5]
		s6 += a0 * bk[6]
		s7 += a0 * bk[7]
	}
	*s = [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
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

// peakA, peakB and peakC are the L1-resident operands of peakGeneric.
var (
	peakA, peakB = make([]float32, blockK*tileM), make([]float32, blockK*tileN)
	peakC        [tileM * tileN]float32
)

// peakGeneric runs the generic micro-kernel itself on one tile in L1, n/blockK times:
// 192·n flops (n a multiple of blockK). Plain Go has no faster multiply-add loop than the
// kernel (a loop of independent chains over an array measured a third of its speed), so
// this is the roofline its products are judged against.
func peakGeneric(n int) {
	for range n / blockK {
		tileGeneric(tileM, 1, blockK, peakA, 0, 0, peakB, 0, peakC[:], tileN, nil, initZero)
	}
}
