package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// dims are awkward sizes around the tile (6×16) and vector widths.
var dims = []int{1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 67}

// eachKernel runs f once per available kernel set (generic, and avx2 where the CPU has it)
// with impl switched to it.
func eachKernel(t *testing.T, f func(t *testing.T)) {
	for _, ks := range kernelSets {
		t.Run(ks.name, func(t *testing.T) {
			saved := impl
			impl = ks
			defer func() { impl = saved }()
			f(t)
		})
	}
}

func withThreads(n int, f func()) {
	saved := threads.Load()
	SetThreads(n)
	defer threads.Store(saved)
	f()
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// guarded is a buffer whose window [off, off+n) is handed to the code under test, with
// NaN guards before and after.
type guarded struct {
	buf  []float32
	off  int
	orig []float32
}

const guard = 9

func newGuarded(fill []float32) *guarded {
	g := &guarded{buf: make([]float32, guard+len(fill)+guard), off: guard}
	for i := range g.buf {
		g.buf[i] = float32(math.NaN())
	}
	copy(g.buf[guard:], fill)
	g.orig = append([]float32(nil), g.buf...)
	return g
}

func (g *guarded) win() []float32 { return g.buf[g.off : len(g.buf)-guard] }

// checkUntouched reports elements outside the written set whose bits changed.
func (g *guarded) checkUntouched(t *testing.T, written func(i int) bool) {
	t.Helper()
	for i, v := range g.buf {
		j := i - g.off
		if j >= 0 && j < len(g.buf)-2*guard && written(j) {
			continue
		}
		if math.Float32bits(v) != math.Float32bits(g.orig[i]) {
			t.Fatalf("element %d outside the output changed: %v", j, v)
		}
	}
}

// refGemm returns alpha·op(a)·op(b) + beta·c [M, N] in float64 and the error bound of each
// element: a float32 FMA chain over K terms (plus the alpha and beta roundings) errs by at
// most about (K+2)·2^-24 times the sum of the magnitudes, doubled for unfused kernels.
func refGemm(transA, transB bool, M, N, K int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (ref, tol []float64) {
	ref, tol = make([]float64, M*N), make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s, mag float64
			for k := 0; k < K; k++ {
				var av, bv float32
				if transA {
					av = a[k*lda+i]
				} else {
					av = a[i*lda+k]
				}
				if transB {
					bv = b[j*ldb+k]
				} else {
					bv = b[k*ldb+j]
				}
				p := float64(alpha) * float64(av) * float64(bv)
				s += p
				mag += math.Abs(p)
			}
			if beta != 0 {
				cv := float64(beta) * float64(c[i*ldc+j])
				s += cv
				mag += math.Abs(cv)
			}
			ref[i*N+j] = s
			tol[i*N+j] = float64(K+3)*math.Ldexp(mag, -23) + 1e-30
		}
	}
	return ref, tol
}

func checkClose(t *testing.T, what string, got []float32, ld, M, N int, ref, tol []float64) {
	t.Helper()
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			g := float64(got[i*ld+j])
			if d := math.Abs(g - ref[i*N+j]); !(d <= tol[i*N+j]) {
				t.Fatalf("%s: c[%d,%d] = %v, want %v ± %.3g", what, i, j, g, ref[i*N+j], tol[i*N+j])
			}
		}
	}
}

func TestPackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, K := range []int{1, 2, 7, 16, 33} {
		for _, N := range dims {
			b := randSlice(r, K*N)
			bt := make([]float32, N*K)
			for k := 0; k < K; k++ {
				for n := 0; n < N; n++ {
					bt[n*K+k] = b[k*N+n]
				}
			}
			for _, p := range []*Packed{Pack(b, K, N), PackTransposed(bt, N, K)} {
				if p.K != K || p.N != N {
					t.Fatalf("[%d,%d]: packed shape [%d,%d]", K, N, p.K, p.N)
				}
				if got := p.Unpack(); !equalBits(got, b) {
					t.Fatalf("[%d,%d]: Unpack differs from the source", K, N)
				}
				row, col := make([]float32, N), make([]float32, K)
				for k := 0; k < K; k++ {
					p.Row(k, row)
					for n := 0; n < N; n++ {
						if row[n] != b[k*N+n] || p.At(k, n) != b[k*N+n] {
							t.Fatalf("[%d,%d]: Row/At(%d,%d) = %v/%v, want %v", K, N, k, n, row[n], p.At(k, n), b[k*N+n])
						}
					}
				}
				for n := 0; n < N; n++ {
					p.Col(n, col)
					for k := 0; k < K; k++ {
						if col[k] != b[k*N+n] {
							t.Fatalf("[%d,%d]: Col(%d)[%d] = %v, want %v", K, N, n, k, col[k], b[k*N+n])
						}
					}
				}
				// The kernel reads whole panels: padding columns must be zero.
				for i, v := range p.data {
					if n := (i/(K*tileN))*tileN + i%tileN; n >= N && v != 0 {
						t.Fatalf("[%d,%d]: padding column %d is %v", K, N, n, v)
					}
				}
			}
		}
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestMatMul(t *testing.T) {
	// Every pair of awkward M, N with K cycling through sizes up to past blockK; M past
	// blockM; N past 512, where A is packed rather than read in place.
	type shape struct{ M, N, K int }
	var shapes []shape
	ks := []int{1, 2, 7, 16, 17, 64, 67, 300}
	for _, M := range append(dims, 150) {
		for _, N := range dims {
			shapes = append(shapes, shape{M, N, ks[len(shapes)%len(ks)]})
		}
	}
	shapes = append(shapes, shape{150, 530, 300}, shape{7, 600, 5}, shape{1, 513, 1},
		shape{1, 600, 700}, shape{5, 100, 600}, shape{3, 530, 777}) // one row tile, K past blockK
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, s := range shapes {
			M, N, K := s.M, s.N, s.K
			a, b, bias := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, N)
			p := Pack(b, K, N)
			for _, withBias := range []bool{false, true} {
				name := fmt.Sprintf("M=%d N=%d K=%d bias=%v", M, N, K, withBias)
				c := newGuarded(make([]float32, M*N))
				for i := range c.win() {
					c.win()[i] = float32(math.NaN()) // must be overwritten, not read
				}
				var bs, c0 []float32
				beta := float32(0)
				if withBias {
					bs, beta = bias, 1
					c0 = make([]float32, M*N)
					for i := range c0 {
						c0[i] = bias[i%N]
					}
				}
				withThreads(1, func() { MatMul(c.win(), a, M, p, bs) })
				ref, tol := refGemm(false, false, M, N, K, 1, a, K, b, N, beta, c0, N)
				checkClose(t, name, c.win(), N, M, N, ref, tol)
				c.checkUntouched(t, func(i int) bool { return i < M*N })
			}
		}
	})
}

func TestMatMulEmptyK(t *testing.T) {
	p := Pack(nil, 0, 3)
	c := []float32{9, 9, 9, 9, 9, 9}
	MatMul(c, nil, 2, p, []float32{1, 2, 3})
	if want := []float32{1, 2, 3, 1, 2, 3}; !equalBits(c, want) {
		t.Fatalf("K=0 with bias: %v, want %v", c, want)
	}
	MatMul(c, nil, 2, p, nil)
	if want := make([]float32, 6); !equalBits(c, want) {
		t.Fatalf("K=0 without bias: %v, want %v", c, want)
	}
}

type gemmCase struct {
	transA, transB bool
	M, N, K        int
	alpha, beta    float32
	pad            int // extra stride beyond the row length of a, b and c
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v M=%d N=%d K=%d alpha=%v beta=%v pad=%d", g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.beta, g.pad)
}

func gemmCases() []gemmCase {
	var cs []gemmCase
	ks := []int{1, 3, 16, 17, 64, 67, 260}
	alphas := []float32{1, 0.125, -1.5}
	betas := []float32{0, 1, 0.5}
	n := 0
	for _, M := range dims {
		for _, N := range dims {
			cs = append(cs, gemmCase{
				transA: n%2 == 1, transB: n/2%2 == 1,
				M: M, N: N, K: ks[n%len(ks)],
				alpha: alphas[n%3], beta: betas[n/3%3], pad: n % 4,
			})
			n++
		}
	}
	// Attention and backward shapes, and blocks past blockM, blockN and blockK.
	for tr := range 4 {
		tA, tB := tr&1 == 1, tr&2 == 2
		cs = append(cs,
			gemmCase{tA, tB, 40, 40, 64, 0.125, 0, 0},
			gemmCase{tA, tB, 40, 64, 40, 1, 0, 3},
		)
	}
	cs = append(cs,
		gemmCase{false, true, 150, 1030, 260, 1, 1, 1},
		gemmCase{true, false, 150, 1030, 260, -1, 0, 2},
	)
	return cs
}

func TestGemm(t *testing.T) {
	// Operands and float64 references are built once and shared by the kernel sets.
	type prepared struct {
		gemmCase
		a, b, c0      []float32
		lda, ldb, ldc int
		ref, tol      []float64
	}
	r := rand.New(rand.NewPCG(5, 6))
	var ps []prepared
	for _, g := range gemmCases() {
		ar, ac := g.M, g.K
		if g.transA {
			ar, ac = g.K, g.M
		}
		br, bc := g.K, g.N
		if g.transB {
			br, bc = g.N, g.K
		}
		p := prepared{gemmCase: g, lda: ac + g.pad, ldb: bc + g.pad, ldc: g.N + g.pad}
		p.a, p.b = randSlice(r, ar*p.lda), randSlice(r, br*p.ldb)
		p.c0 = randSlice(r, (g.M-1)*p.ldc+g.N)
		if g.beta == 0 {
			for i := range p.c0 {
				p.c0[i] = float32(math.NaN()) // must not propagate
			}
		}
		p.ref, p.tol = refGemm(g.transA, g.transB, g.M, g.N, g.K, g.alpha, p.a, p.lda, p.b, p.ldb, g.beta, p.c0, p.ldc)
		ps = append(ps, p)
	}
	eachKernel(t, func(t *testing.T) {
		for _, p := range ps {
			c := newGuarded(p.c0)
			withThreads(1, func() {
				Gemm(p.transA, p.transB, p.M, p.N, p.K, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c.win(), p.ldc)
			})
			checkClose(t, p.String(), c.win(), p.ldc, p.M, p.N, p.ref, p.tol)
			c.checkUntouched(t, func(i int) bool { return i%p.ldc < p.N })
		}
	})
}

func TestGemmDegenerate(t *testing.T) {
	a := []float32{1, 2, 3, 4}
	for _, tc := range []struct {
		name  string
		K     int
		alpha float32
		beta  float32
		want  []float32
	}{
		{"K=0 beta=0", 0, 1, 0, []float32{0, 0, 0, 0}},
		{"K=0 beta=2", 0, 1, 2, []float32{2, 4, 6, 8}},
		{"alpha=0 beta=0.5", 2, 0, 0.5, []float32{0.5, 1, 1.5, 2}},
		{"alpha=0 beta=0", 2, 0, 0, []float32{0, 0, 0, 0}},
	} {
		c := []float32{1, 2, 3, 4}
		if tc.beta == 0 {
			c[1] = float32(math.NaN())
		}
		Gemm(false, false, 2, 2, tc.K, tc.alpha, a, 2, a, 2, tc.beta, c, 2)
		if !equalBits(c, tc.want) {
			t.Errorf("%s: c = %v, want %v", tc.name, c, tc.want)
		}
	}
}

// TestThreadsBitwise checks that products are bitwise identical whatever the thread count,
// on shapes large enough to be split by columns and by rows.
func TestThreadsBitwise(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, s := range []struct {
			M, N, K int
			how     int // split with 2 and 3 threads
		}{
			{100, 200, 300, byColumns},
			{200, 40, 300, byRows},
			{67, 1100, 17, byColumns},
		} {
			for _, nt := range []int{2, 3} {
				if how := (&gemmJob{M: s.M, N: s.N, K: s.K}).split(nt); how != s.how {
					t.Fatalf("%v: split(%d) = %d, want %d", s, nt, how, s.how)
				}
			}
			a, b, bias := randSlice(r, s.M*s.K), randSlice(r, s.K*s.N), randSlice(r, s.N)
			p := Pack(b, s.K, s.N)
			c0 := randSlice(r, s.M*s.N)
			var first [][]float32
			for _, nt := range []int{1, 2, 3} {
				mm := make([]float32, s.M*s.N)
				gm := append([]float32(nil), c0...)
				gt := append([]float32(nil), c0[:s.M*s.N]...)
				withThreads(nt, func() {
					MatMul(mm, a, s.M, p, bias)
					Gemm(false, false, s.M, s.N, s.K, 0.5, a, s.K, b, s.N, 0.25, gm, s.N)
					Gemm(true, true, s.M, s.N, s.K, 1, transpose(a, s.M, s.K), s.M, transpose(b, s.K, s.N), s.K, 1, gt, s.N)
				})
				got := [][]float32{mm, gm, gt}
				if nt == 1 {
					first = got
					ref, tol := refGemm(false, false, s.M, s.N, s.K, 0.5, a, s.K, b, s.N, 0.25, c0, s.N)
					checkClose(t, fmt.Sprint(s), gm, s.N, s.M, s.N, ref, tol)
					continue
				}
				for i := range got {
					if !equalBits(got[i], first[i]) {
						t.Fatalf("%v product %d: %d threads differ from 1", s, i, nt)
					}
				}
			}
		}
	})
}

// A row of C does not depend on the rows computed with it: one row alone, a row tile (which
// streams B panel by panel) and a tall product agree bitwise, with K over several blocks and
// any thread count.
func TestRowsIndependentOfBatch(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, s := range []struct{ M, N, K int }{{40, 600, 700}, {13, 200, 520}, {7, 3000, 300}} {
			a, b, bias := randSlice(r, s.M*s.K), randSlice(r, s.K*s.N), randSlice(r, s.N)
			p := Pack(b, s.K, s.N)
			whole := make([]float32, s.M*s.N)
			withThreads(2, func() { MatMul(whole, a, s.M, p, bias) })
			for _, nt := range []int{1, 2} {
				for _, rows := range []int{1, 4, 6} {
					for i0 := 0; i0+rows <= s.M; i0 += rows {
						part := make([]float32, rows*s.N)
						withThreads(nt, func() { MatMul(part, a[i0*s.K:(i0+rows)*s.K], rows, p, bias) })
						if !equalBits(part, whole[i0*s.N:(i0+rows)*s.N]) {
							t.Fatalf("%v: rows [%d, %d) computed %d at a time on %d threads differ from the whole product", s, i0, i0+rows, rows, nt)
						}
					}
				}
			}
		}
	})
}

func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

func TestShortBufferPanics(t *testing.T) {
	p := Pack(make([]float32, 6), 2, 3)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"MatMul a", func() { MatMul(make([]float32, 6), make([]float32, 3), 2, p, nil) }, "tensor: MatMul: len(a) = 3, need 4"},
		{"MatMul bias", func() { MatMul(make([]float32, 6), make([]float32, 4), 2, p, make([]float32, 2)) }, "tensor: MatMul: len(bias) = 2, need 3"},
		{"Gemm c", func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 4), 3)
		}, "tensor: Gemm: len(c) = 4, need 5"},
		{"Gemm stride", func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}, "tensor: Gemm: a is [2, 2] with stride 1"},
	} {
		func() {
			defer func() {
				if got := fmt.Sprint(recover()); got != tc.want {
					t.Errorf("%s: panic %q, want %q", tc.name, got, tc.want)
				}
			}()
			tc.f()
		}()
	}
}

func TestThreadsKernel(t *testing.T) {
	saved := threads.Load()
	defer threads.Store(saved)
	SetThreads(3)
	if got := Threads(); got != 3 {
		t.Errorf("after SetThreads(3): Threads() = %d", got)
	}
	SetThreads(0)
	if got, want := Threads(), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("after SetThreads(0): Threads() = %d, want GOMAXPROCS %d", got, want)
	}
	// The fastest available set is the one in use.
	if got, want := Kernel(), kernelSets[len(kernelSets)-1].name; got != want {
		t.Errorf("Kernel() = %q, want %q", got, want)
	}
}

func TestPeakGFLOPSRuns(t *testing.T) {
	defer func(k *kernelSet) { impl = k }(impl)
	for _, ks := range kernelSets {
		impl = ks
		for _, wt := range []WeightType{F32, BF16} {
			if g := PeakGFLOPS(5*time.Millisecond, wt); !(g > 0.01 && g < 1e4) {
				t.Errorf("%s: PeakGFLOPS(%s) = %g", ks.name, wt, g)
			}
		}
	}
}

func TestSetKernel(t *testing.T) {
	defer func(k *kernelSet) { impl = k }(impl)
	names := Kernels()
	if names[0] != "generic" || names[len(names)-1] != Kernel() {
		t.Fatalf("Kernels() = %v with %q in use; want generic first and the default last", names, Kernel())
	}
	for _, n := range names {
		if err := SetKernel(n); err != nil || Kernel() != n {
			t.Fatalf("SetKernel(%q): %v, Kernel() = %q", n, err, Kernel())
		}
	}
	want := `kernel "sse9" is not available on this CPU (available: ` + strings.Join(names, ", ") + ")"
	if err := SetKernel("sse9"); err == nil || err.Error() != want {
		t.Fatalf("SetKernel(sse9) = %v, want %q", err, want)
	}
}
