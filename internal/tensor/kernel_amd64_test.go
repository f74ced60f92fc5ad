//go:build amd64 && gc && !purego

package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

func TestKernelDispatch(t *testing.T) {
	want := "generic"
	switch {
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX512BW:
		want = "avx512bf16"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasAVX512F:
		want = "avx512"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		want = "avx2"
	}
	if got := Kernel(); got != want {
		t.Fatalf("Kernel() = %q on a CPU with AVX2 %v, FMA %v, AVX512F %v; want %q",
			got, cpu.X86.HasAVX2, cpu.X86.HasFMA, cpu.X86.HasAVX512F, want)
	}
}

// TestAVX512MatchesOtherKernels runs every shape class through the AVX-512 kernels and the
// others: edge tiles in both dimensions (the 12×32 tile, its 16-wide and short-row
// variants), K over several blocks, one row (streamed panels), A read in place and packed,
// bias, transposes, alpha and beta, on 1 and 2 threads. The AVX-512 kernel must equal the
// AVX2 one bitwise (the same FMA chains) and the generic one within the rounding bound.
func TestAVX512MatchesOtherKernels(t *testing.T) {
	if !cpu.X86.HasAVX512F {
		t.Skip("this CPU has no AVX-512F: the AVX-512 kernel cannot run here")
	}
	type shape struct{ M, N, K int }
	var shapes []shape
	for _, M := range []int{1, 5, 6, 7, 11, 12, 13, 24, 25, 64, 150} {
		for _, N := range []int{1, 15, 16, 17, 31, 32, 33, 48, 100, 520, 777} {
			for _, K := range []int{1, 5, 256, 257, 520} {
				shapes = append(shapes, shape{M, N, K})
			}
		}
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range shapes {
		a, b, bias := randSlice(r, s.M*s.K), randSlice(r, s.K*s.N), randSlice(r, s.N)
		c0 := randSlice(r, s.M*s.N)
		at, bt := transpose(a, s.M, s.K), transpose(b, s.K, s.N)
		p := Pack(b, s.K, s.N)
		// Each product's C for kernel set ks on nt threads.
		run := func(ks *kernelSet, nt int) [][]float32 {
			saved := impl
			impl = ks
			defer func() { impl = saved }()
			mm := make([]float32, s.M*s.N)
			g1 := append([]float32(nil), c0...)
			g2 := append([]float32(nil), c0...)
			withThreads(nt, func() {
				MatMul(mm, a, s.M, p, bias)
				Gemm(false, false, s.M, s.N, s.K, 1, a, s.K, b, s.N, 1, g1, s.N)
				Gemm(true, true, s.M, s.N, s.K, 0.5, at, s.M, bt, s.K, 0.25, g2, s.N)
			})
			return [][]float32{mm, g1, g2}
		}
		refs := make([][2][]float64, 3)
		refs[0][0], refs[0][1] = refGemm(false, false, s.M, s.N, s.K, 1, a, s.K, b, s.N, 1, bias2D(bias, s.M), s.N)
		refs[1][0], refs[1][1] = refGemm(false, false, s.M, s.N, s.K, 1, a, s.K, b, s.N, 1, c0, s.N)
		refs[2][0], refs[2][1] = refGemm(true, true, s.M, s.N, s.K, 0.5, at, s.M, bt, s.K, 0.25, c0, s.N)
		generic, avx2 := run(genericKernels, 1), run(avx2Kernels, 1)
		for _, nt := range []int{1, 2} {
			got := run(avx512Kernels, nt)
			for i := range got {
				name := fmt.Sprintf("M=%d N=%d K=%d product %d threads %d", s.M, s.N, s.K, i, nt)
				if !equalBits(got[i], avx2[i]) {
					t.Fatalf("%s: avx512 differs from avx2", name)
				}
				for j, v := range got[i] {
					if d := math.Abs(float64(v) - float64(generic[i][j])); !(d <= 2*refs[i][1][j]) {
						t.Fatalf("%s: c[%d] = %v with avx512, %v with generic (bound %.3g)", name, j, v, generic[i][j], 2*refs[i][1][j])
					}
				}
			}
		}
	}
}

// bias2D repeats bias [N] over M rows.
func bias2D(bias []float32, M int) []float32 {
	out := make([]float32, 0, M*len(bias))
	for range M {
		out = append(out, bias...)
	}
	return out
}
