package tensor

import "math"

// Dot returns Σ a[i]·b[i] over len(a) elements.
func Dot(a, b []float32) float32 {
	checkLen("Dot", "b", b, len(a))
	return impl.dot(a, b)
}

// Axpy sets y[i] += alpha·x[i].
func Axpy(alpha float32, x, y []float32) {
	checkLen("Axpy", "y", y, len(x))
	impl.axpy(alpha, x, y)
}

// GeluTanh sets dst[i] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's gelu_new.
// It is computed as x·σ(2u) = x / (1 + e^(−2u)), u the tanh argument, in float32 with
// exp32; the error is within 2e-7·max(1, |x|) of the exact value (1.2e-7 measured).
func GeluTanh(dst, src []float32) {
	checkLen("GeluTanh", "dst", dst, len(src))
	impl.gelu(dst, src)
}

// GeluErf sets dst[i] = 0.5·x·(1 + erf(x/√2)), the exact GELU ("gelu").
func GeluErf(dst, src []float32) {
	checkLen("GeluErf", "dst", dst, len(src))
	for i, x := range src {
		x64 := float64(x)
		dst[i] = float32(0.5 * x64 * (1 + math.Erf(x64/math.Sqrt2)))
	}
}

// SoftmaxInPlace replaces x with softmax(x); -Inf entries become 0, a NaN makes the row NaN.
// The differences x[i] − max are float32, their exponentials float32 to within 1.25 ulp
// (exp32), the sum float64.
func SoftmaxInPlace(x []float32) { Softmax(x, x) }

// Softmax sets dst = softmax(x) (dst may be x) and returns log Σ exp(x), the log of the
// normalizer it divided by, as SoftmaxInPlace computes them: for callers that need the
// probabilities and the log-sum-exp of one row (the logit lens), in one pass of vectorized
// exponentials where LogSumExp, exact in float64, is twenty times slower on a GPT-2 vocabulary.
func Softmax(dst, x []float32) float64 {
	checkLen("Softmax", "dst", dst, len(x))
	dst = dst[:len(x)]
	if len(x) > 0 && &dst[0] != &x[0] {
		copy(dst, x)
	}
	// A NaN anywhere makes the sum, hence every output, NaN, whatever max returned.
	m := impl.maxf(dst)
	s := impl.expSum(dst, m)
	impl.scale(dst, float32(1/s))
	return float64(m) + math.Log(s)
}

// LayerNorm normalizes one row x [D]: out[i] = (x[i] − mean)·rstd·w[i] + b[i], with the
// biased variance and rstd = 1/√(var + eps), and returns mean and rstd. Statistics and the
// per-element arithmetic are float64, rounded once to float32. w or b may be nil (no scale,
// no shift); out may alias x.
func LayerNorm(out, x, w, b []float32, eps float32) (mean, rstd float32) {
	D := len(x)
	checkLen("LayerNorm", "out", out, D)
	if w != nil {
		checkLen("LayerNorm", "w", w, D)
	}
	if b != nil {
		checkLen("LayerNorm", "b", b, D)
	}
	if D == 0 {
		return 0, 0
	}
	mu := Sum64(x) / float64(D)
	// Four partial sums break the add latency chain; their order is fixed, so the result
	// is still deterministic.
	var q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= D; i += 4 {
		d0, d1 := float64(x[i])-mu, float64(x[i+1])-mu
		d2, d3 := float64(x[i+2])-mu, float64(x[i+3])-mu
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for ; i < D; i++ {
		d := float64(x[i]) - mu
		q0 += d * d
	}
	r := 1 / math.Sqrt(((q0+q1)+(q2+q3))/float64(D)+float64(eps))
	switch {
	case w != nil && b != nil:
		w, b = w[:D], b[:D]
		for i, v := range x {
			out[i] = float32((float64(v)-mu)*r*float64(w[i]) + float64(b[i]))
		}
	case w != nil:
		w = w[:D]
		for i, v := range x {
			out[i] = float32((float64(v) - mu) * r * float64(w[i]))
		}
	case b != nil:
		b = b[:D]
		for i, v := range x {
			out[i] = float32((float64(v)-mu)*r + float64(b[i]))
		}
	default:
		for i, v := range x {
			out[i] = float32((float64(v) - mu) * r)
		}
	}
	return float32(mu), float32(r)
}

// sum64 returns Σ x[i] in float64, whose 29 extra bits make the rounding negligible next
// to float32 inputs.
func Sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// exp32 constants: e^y = 2^n·e^r with n = round(y·log2(e)) and r = y − n·ln2 (ln2 split in a
// high part exact in n·ln2Hi and a low correction), |r| ≤ ln2/2, where the degree-7 Taylor
// polynomial is accurate to 5e-9 relative, well under float32's 6e-8.
const (
	log2e      = 1.4426950408889634
	ln2Hi      = 0.693359375
	ln2Lo      = -2.12194440e-4
	expHi      = 88.0            // e^88 < MaxFloat32 with n ≤ 127
	expLo      = -87.3           // below, e^y is subnormal: return 0
	roundMagic = 1.5 * (1 << 23) // adding it rounds a float32 to an integer
)

// exp32 returns e^y to about 1 ulp for y in [expLo, expHi], 0 below (also for -Inf) and NaN
// for NaN. Callers clamp y to expHi (softmax's y ≤ 0 needs no clamp).
func exp32(y float32) float32 {
	if y < expLo {
		return 0
	}
	n := (y*log2e + roundMagic) - roundMagic
	r := y - n*ln2Hi - n*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// gelu constants: −2u = x·(geluA + geluB·x²).
const (
	geluA = -2 * 0.7978845608028654
	geluB = -2 * 0.7978845608028654 * 0.044715
)

func geluTanhGeneric(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = x / (1 + exp32(min(x*(geluA+geluB*x*x), expHi)))
	}
}

func maxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

func expSumGeneric(x []float32, m float32) float64 {
	var s float64
	for i, v := range x {
		e := exp32(v - m)
		x[i] = e
		s += float64(e)
	}
	return s
}

func scaleGeneric(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// LogSumExp returns log Σ exp(x[i]) in float64, shifted by the maximum so that no term
// overflows: the normalizer of a softmax over logits.
func LogSumExp(x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// Argmax returns the index of x's largest element (the first of equals); 0 for an empty x.
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
