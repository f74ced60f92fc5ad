package tensor

// kernelSet is one implementation of the inner loops. impl is the one in use: the generic
// set unless an init (kernel_amd64.go) finds a faster one for this CPU. Tests run every
// entry of kernelSets by swapping impl.
type kernelSet struct {
	name string
	// tile computes an mr×16 tile of C (row stride ldc) from the packed micro-panels
	// a [kc][6] and b [kc][16], starting from zero, bias [16] or C itself (init).
	tile    func(mr, kc int, a, b, c []float32, ldc int, bias []float32, init int)
	dot     func(a, b []float32) float32
	axpy    func(alpha float32, x, y []float32)
	gelu    func(dst, src []float32)
	// Softmax pieces: maxf returns max(x) (−Inf when empty), expSum sets x[i] = exp32(x[i]−m)
	// and returns Σ x[i] in float64, scale multiplies x by s.
	maxf   func(x []float32) float32
	expSum func(x []float32, m float32) float64
	scale  func(x []float32, s float32)
}

var genericKernels = &kernelSet{
	name:    "generic",
	tile:    tileGeneric,
	dot:     dotGeneric,
	axpy:    axpyGeneric,
	gelu:    geluTanhGeneric,
	maxf:    maxGeneric,
	expSum:  expSumGeneric,
	scale:   scaleGeneric,
}

var (
	impl       = genericKernels
	kernelSets = []*kernelSet{genericKernels}
)

// tileGeneric is the portable micro-kernel: the same FMA-chain-per-element contract as the
// assembly one, in plain Go (fused or not as the compiler decides for this architecture).
func tileGeneric(mr, kc int, a, b, c []float32, ldc int, bias []float32, init int) {
	var acc [tileM][tileN]float32
	switch init {
	case initBias:
		for r := range mr {
			acc[r] = [tileN]float32(bias)
		}
	case initLoad:
		for r := range mr {
			acc[r] = [tileN]float32(c[r*ldc:])
		}
	}
	a, b = a[:kc*tileM], b[:kc*tileN]
	for k := range kc {
		bk := (*[tileN]float32)(b[k*tileN:])
		ak := (*[tileM]float32)(a[k*tileM:])
		for r := range mr {
			ar, row := ak[r], &acc[r]
			for j, bv := range bk {
				row[j] += ar * bv
			}
		}
	}
	for r := range mr {
		*(*[tileN]float32)(c[r*ldc:]) = acc[r]
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
