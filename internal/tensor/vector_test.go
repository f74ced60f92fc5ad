package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func geluRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(0.7978845608028654*(x+0.044715*x*x*x)))
}

func TestGeluTanh(t *testing.T) {
	// Dense over [-20, 20] (2^-12 apart), geometric out to ±1e6, and odd lengths so the
	// vector tails run.
	var xs []float32
	for x := -20.0; x <= 20; x += 1.0 / 4096 {
		xs = append(xs, float32(x))
	}
	for x := 20.0; x < 1e6; x *= 1.01 {
		xs = append(xs, float32(x), float32(-x))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, math.MaxFloat32, 3)
	eachKernel(t, func(t *testing.T) {
		for _, n := range []int{len(xs), 1, 7, 9} {
			src := xs[len(xs)-n:]
			dst := newGuarded(make([]float32, n))
			GeluTanh(dst.win(), src)
			dst.checkUntouched(t, func(i int) bool { return true })
			for i, x := range src {
				x64 := float64(x)
				want := geluRef(x64)
				if x == math.MaxFloat32 {
					want = x64 // x³ overflows float64's tanh argument: it is +Inf, tanh 1
				}
				got := float64(dst.win()[i])
				if d := math.Abs(got - want); !(d <= 2e-7*math.Max(1, math.Abs(x64))) {
					t.Fatalf("GeluTanh(%v) = %v, want %v (error %.3g)", x, got, want, d)
				}
			}
		}
		special := []float32{float32(math.NaN()), float32(math.Inf(1))}
		GeluTanh(special, special)
		if !math.IsNaN(float64(special[0])) || !math.IsInf(float64(special[1]), 1) {
			t.Fatalf("GeluTanh(NaN, +Inf) = %v, want [NaN +Inf]", special)
		}
		// In place.
		x := []float32{-1, 0.5, 2}
		GeluTanh(x, x)
		for i, v := range []float64{-1, 0.5, 2} {
			if d := math.Abs(float64(x[i]) - geluRef(v)); d > 2e-7*math.Max(1, math.Abs(v)) {
				t.Fatalf("in place: GeluTanh(%v) = %v, want %v", v, x[i], geluRef(v))
			}
		}
	})
}

func TestGeluErf(t *testing.T) {
	for _, tc := range []struct{ x, want float64 }{
		{0, 0},
		{1, 0.8413447460685429},
		{-1, -0.15865525393145707},
		{3, 2.995950106005848},
	} {
		dst := []float32{9}
		GeluErf(dst, []float32{float32(tc.x)})
		if d := math.Abs(float64(dst[0]) - tc.want); d > 1e-7*math.Max(1, math.Abs(tc.x)) {
			t.Errorf("GeluErf(%v) = %v, want %v", tc.x, dst[0], tc.want)
		}
	}
}

// TestExpSum checks exp32 (the softmax exponentials) over its whole range to 1.25 ulp
// (measured: 0.89 with FMA, 1.17 without).
func TestExpSum(t *testing.T) {
	var ys []float32
	for y := -87.3; y <= 88; y += 1.0 / 1024 {
		ys = append(ys, float32(y))
	}
	ys = append(ys, -87.4, -100, float32(math.Inf(-1)), 0)
	eachKernel(t, func(t *testing.T) {
		for _, m := range []float32{0, 2.5} {
			x := append([]float32(nil), ys...)
			s := impl.expSum(x, m)
			var ref float64
			for i, y := range ys {
				z := float64(y - m)
				want := math.Exp(math.Min(z, expHi))
				if float32(z) < expLo {
					want = 0
				}
				w32 := float32(want)
				ulp := float64(math.Nextafter32(w32, float32(math.Inf(1))) - w32)
				if d := math.Abs(float64(x[i]) - want); !(d <= 1.25*ulp) && !(want == 0 && d == 0) {
					t.Fatalf("exp32(%v) = %v, want %v (%.2f ulp)", z, x[i], want, d/ulp)
				}
				ref += float64(x[i])
			}
			if d := math.Abs(s - ref); d > 1e-12*ref {
				t.Fatalf("m=%v: sum %v, want %v", m, s, ref)
			}
		}
		x := []float32{float32(math.NaN())}
		if impl.expSum(x, 0); !math.IsNaN(float64(x[0])) {
			t.Fatalf("exp32(NaN) = %v, want NaN", x[0])
		}
	})
}

func TestSoftmaxInPlace(t *testing.T) {
	inf := float32(math.Inf(-1))
	nan := float32(math.NaN())
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 9))
		for _, n := range []int{1, 2, 7, 8, 9, 31, 64, 257} {
			for _, masked := range []bool{false, true} {
				name := fmt.Sprintf("n=%d masked=%v", n, masked)
				x := randSlice(r, n)
				for i := range x {
					x[i] *= 20
					if masked && i%3 == 1 {
						x[i] = inf
					}
				}
				m := math.Inf(-1)
				for _, v := range x {
					m = math.Max(m, float64(v))
				}
				// The differences x − max are float32, as in the kernels (and PyTorch).
				var s float64
				for _, v := range x {
					s += math.Exp(float64(v - float32(m)))
				}
				g := newGuarded(x)
				SoftmaxInPlace(g.win())
				g.checkUntouched(t, func(i int) bool { return true })
				for i, v := range x {
					want := math.Exp(float64(v-float32(m))) / s
					got := float64(g.win()[i])
					if v == inf && got != 0 {
						t.Fatalf("%s: masked entry %d is %v, want 0", name, i, got)
					}
					if want >= 0x1p-126 && !(math.Abs(got-want) <= 4e-7*want) {
						t.Fatalf("%s: [%d] = %v, want %v", name, i, got, want)
					}
					if want < 0x1p-126 && got > 0x1p-126 {
						t.Fatalf("%s: [%d] = %v, want %v", name, i, got, want)
					}
				}
			}
		}
		for _, tc := range []struct {
			in, want []float32
		}{
			{[]float32{inf, 3, inf, inf, inf, inf, inf, inf, inf}, []float32{0, 1, 0, 0, 0, 0, 0, 0, 0}},
			{[]float32{0, 0, 0, 0}, []float32{0.25, 0.25, 0.25, 0.25}},
			{[]float32{}, []float32{}},
			{[]float32{1, nan, 2, 3, 4, 5, 6, 7, 8, 9}, []float32{nan, nan, nan, nan, nan, nan, nan, nan, nan, nan}},
		} {
			x := append([]float32(nil), tc.in...)
			SoftmaxInPlace(x)
			if !equalBits(x, tc.want) && !(allNaN(x) && allNaN(tc.want)) {
				t.Errorf("softmax(%v) = %v, want %v", tc.in, x, tc.want)
			}
		}
	})
}

func allNaN(x []float32) bool {
	for _, v := range x {
		if !math.IsNaN(float64(v)) {
			return false
		}
	}
	return len(x) > 0
}

func TestDotAxpy(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(10, 10))
		for _, n := range []int{0, 1, 3, 7, 8, 9, 31, 32, 33, 70, 1000} {
			a, b := randSlice(r, n), randSlice(r, n)
			var ref, mag float64
			for i := range a {
				ref += float64(a[i]) * float64(b[i])
				mag += math.Abs(float64(a[i]) * float64(b[i]))
			}
			if got := Dot(a, b); !(math.Abs(float64(got)-ref) <= float64(n+1)*0x1p-23*mag) {
				t.Fatalf("n=%d: Dot = %v, want %v", n, got, ref)
			}
			y := newGuarded(b)
			Axpy(-1.5, a, y.win())
			y.checkUntouched(t, func(int) bool { return true })
			for i := range a {
				want := float64(b[i]) - 1.5*float64(a[i])
				if d := math.Abs(float64(y.win()[i]) - want); d > 0x1p-23*(math.Abs(float64(b[i]))+1.5*math.Abs(float64(a[i]))) {
					t.Fatalf("n=%d: Axpy y[%d] = %v, want %v", n, i, y.win()[i], want)
				}
			}
		}
	})
}

func TestLayerNorm(t *testing.T) {
	// [1 2 3 4]: mean 2.5, variance 1.25.
	x := []float32{1, 2, 3, 4}
	out := make([]float32, 4)
	mean, rstd := LayerNorm(out, x, nil, nil, 0)
	r := 1 / math.Sqrt(1.25)
	if mean != 2.5 || rstd != float32(r) {
		t.Fatalf("mean, rstd = %v, %v, want 2.5, %v", mean, rstd, float32(r))
	}
	for i, d := range []float64{-1.5, -0.5, 0.5, 1.5} {
		if out[i] != float32(d*r) {
			t.Fatalf("out[%d] = %v, want %v", i, out[i], float32(d*r))
		}
	}

	rng := rand.New(rand.NewPCG(11, 11))
	for _, D := range []int{1, 3, 768, 1001} {
		x := randSlice(rng, D)
		for i := range x {
			x[i] = 100 + 3*x[i] // a large mean: a one-pass float32 variance would lose digits
		}
		w, b := randSlice(rng, D), randSlice(rng, D)
		const eps = 1e-5
		var mu, v float64
		for _, xv := range x {
			mu += float64(xv)
		}
		mu /= float64(D)
		for _, xv := range x {
			v += (float64(xv) - mu) * (float64(xv) - mu)
		}
		rs := 1 / math.Sqrt(v/float64(D)+eps)
		for _, tc := range []struct {
			name  string
			w, b  []float32
			alias bool
		}{{"w b", w, b, false}, {"w", w, nil, false}, {"b", nil, b, false}, {"none", nil, nil, false}, {"w b in place", w, b, true}} {
			in := append([]float32(nil), x...)
			out := make([]float32, D)
			if tc.alias {
				out = in
			}
			mean, rstd := LayerNorm(out, in, tc.w, tc.b, eps)
			if math.Abs(float64(mean)-mu) > 0x1p-24*math.Abs(mu) || math.Abs(float64(rstd)-rs) > 0x1p-24*rs {
				t.Fatalf("D=%d %s: mean, rstd = %v, %v, want %v, %v", D, tc.name, mean, rstd, mu, rs)
			}
			for i, xv := range x {
				want := (float64(xv) - mu) * rs
				if tc.w != nil {
					want *= float64(tc.w[i])
				}
				if tc.b != nil {
					want += float64(tc.b[i])
				}
				if d := math.Abs(float64(out[i]) - want); d > 0x1p-24*math.Abs(want)+1e-12 {
					t.Fatalf("D=%d %s: out[%d] = %v, want %v", D, tc.name, i, out[i], want)
				}
			}
		}
	}
	if m, r := LayerNorm(nil, nil, nil, nil, 1e-5); m != 0 || r != 0 {
		t.Fatalf("empty row: %v, %v, want 0, 0", m, r)
	}
}

func TestLogSumExp(t *testing.T) {
	for _, tc := range []struct {
		x    []float32
		want float64
	}{
		{[]float32{0}, 0},
		{[]float32{0, 0}, math.Ln2},
		{[]float32{1000, 1000}, 1000 + math.Ln2}, // would overflow without the shift
		{[]float32{float32(math.Inf(-1)), 3}, 3},
	} {
		if got := LogSumExp(tc.x); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LogSumExp(%v) = %g, want %g", tc.x, got, tc.want)
		}
	}
}

func TestArgmax(t *testing.T) {
	for _, c := range []struct {
		x    []float32
		want int
	}{{nil, 0}, {[]float32{-1}, 0}, {[]float32{1, 3, 3, 2}, 1}, {[]float32{-5, -2, -7}, 1}} {
		if got := Argmax(c.x); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}
