package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mechlens/mechlens/internal/procstat"
)

// benchFlops runs f in the benchmark loop and reports its flops per iteration as GFLOP/s
// of wall time and, where the process CPU time is known, as GFLOP per CPU-second: on a
// shared machine the first drops with other load, the second (per-core efficiency) much
// less.
func benchFlops(b *testing.B, flops float64, f func()) {
	benchLoop(b, f, func(wall, cpu float64) {
		b.ReportMetric(flops*float64(b.N)/1e9/wall, "GFLOP/s")
		if cpu > 0 {
			b.ReportMetric(flops*float64(b.N)/1e9/cpu, "GFLOP/cpu-s")
		}
	})
}

// benchValues runs f, which handles n values, and reports ns per value, of wall and of
// CPU time.
func benchValues(b *testing.B, n float64, f func()) {
	benchLoop(b, f, func(wall, cpu float64) {
		b.ReportMetric(wall*1e9/float64(b.N)/n, "ns/value")
		if cpu > 0 {
			b.ReportMetric(cpu*1e9/float64(b.N)/n, "cpu-ns/value")
		}
	})
}

// benchLoop runs f in the benchmark loop and hands report the wall and CPU seconds taken
// (CPU 0 where unknown).
func benchLoop(b *testing.B, f func(), report func(wall, cpu float64)) {
	c0 := procstat.CPUTime()
	for b.Loop() {
		f()
	}
	report(b.Elapsed().Seconds(), (procstat.CPUTime() - c0).Seconds())
}

// benchKernels runs f once per kernel set, as sub-benchmarks named after it.
func benchKernels(b *testing.B, f func(b *testing.B)) {
	for _, ks := range kernelSets {
		b.Run(ks.name, func(b *testing.B) {
			saved := impl
			impl = ks
			defer func() { impl = saved }()
			f(b)
		})
	}
}

// BenchmarkMatMul is GPT-2 small's MLP up-projection on 256 tokens:
// [256, 768]·[768, 3072] + bias, with float32 and bfloat16 weights.
func BenchmarkMatMul(b *testing.B) {
	const M, K, N = 256, 768, 3072
	r := rand.New(rand.NewPCG(1, 1))
	a, w, bias := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, N)
	c := make([]float32, M*N)
	for _, wt := range []WeightType{F32, BF16} {
		p := PackAs(wt, w, K, N)
		for _, nt := range []int{1, 2} {
			b.Run(fmt.Sprintf("weights=%s/threads=%d", wt, nt), func(b *testing.B) {
				withThreads(nt, func() {
					benchFlops(b, 2*M*K*N, func() { MatMul(c, a, M, p, bias) })
				})
			})
		}
	}
}

// BenchmarkMatMulRow is one row against weights far larger than the caches
// ([1, 2048]·[2048, 16384], 128 MiB as float32): what a decode step does, bound by memory
// bandwidth, so bfloat16 weights should take about half the time. Bytes are the weights'.
func BenchmarkMatMulRow(b *testing.B) {
	const K, N = 2048, 16384
	r := rand.New(rand.NewPCG(4, 4))
	a, w, c := randSlice(r, K), randSlice(r, K*N), make([]float32, N)
	for _, wt := range []WeightType{F32, BF16} {
		p := PackAs(wt, w, K, N)
		b.Run(fmt.Sprintf("weights=%s", wt), func(b *testing.B) {
			b.SetBytes(int64(p.Bytes()))
			for b.Loop() {
				MatMul(c, a, 1, p, nil)
			}
		})
	}
}

// BenchmarkGemmAttention is one head of causal-free attention on T = 256 tokens, with
// q, k, v read in place from the fused [T, 3·768] QKV activations: S = q·kᵀ/8, then
// [T, T]·v into a [T, 768] output at the head's columns. One thread: the model runs
// heads in parallel.
func BenchmarkGemmAttention(b *testing.B) {
	const T, D, ld = 256, 64, 3 * 768
	r := rand.New(rand.NewPCG(2, 2))
	qkv, s, out := randSlice(r, T*ld), make([]float32, T*T), make([]float32, T*768)
	q, k, v := qkv, qkv[768:], qkv[2*768:]
	withThreads(1, func() {
		b.Run("QKt", func(b *testing.B) {
			benchFlops(b, 2*T*T*D, func() { Gemm(false, true, T, T, D, 0.125, q, ld, k, ld, 0, s, T) })
		})
		b.Run("PV", func(b *testing.B) {
			benchFlops(b, 2*T*T*D, func() { Gemm(false, false, T, D, T, 1, s, T, v, ld, 0, out, 768) })
		})
	})
}

// BenchmarkGemmBackward is the weight gradient of the MLP up-projection on 256 tokens:
// dW [768, 3072] = xᵀ [768, 256]·dy [256, 3072].
func BenchmarkGemmBackward(b *testing.B) {
	const T, K, N = 256, 768, 3072
	r := rand.New(rand.NewPCG(3, 3))
	x, dy, dw := randSlice(r, T*K), randSlice(r, T*N), make([]float32, K*N)
	withThreads(1, func() {
		benchFlops(b, 2*T*K*N, func() { Gemm(true, false, K, N, T, 1, x, K, dy, N, 0, dw, N) })
	})
}

// BenchmarkGeluTanh is one MLP activation on 256 tokens: 256·3072 values.
func BenchmarkGeluTanh(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	x := randSlice(r, 256*3072)
	for i := range x {
		x[i] *= 4
	}
	dst := make([]float32, len(x))
	benchKernels(b, func(b *testing.B) {
		benchValues(b, float64(len(x)), func() { GeluTanh(dst, x) })
	})
}

// BenchmarkSoftmax is one head's attention rows on 256 tokens: 256 rows of 256 scores.
func BenchmarkSoftmax(b *testing.B) {
	const T = 256
	r := rand.New(rand.NewPCG(5, 5))
	src := randSlice(r, T*T)
	for i := range src {
		src[i] *= 8
	}
	x := make([]float32, len(src))
	benchKernels(b, func(b *testing.B) {
		benchValues(b, float64(len(x)), func() {
			copy(x, src)
			for i := 0; i < T; i++ {
				SoftmaxInPlace(x[i*T : (i+1)*T])
			}
		})
	})
}

// BenchmarkTile is the micro-kernel alone on L1-resident panels (kc = blockK), one full
// register tile of each kernel set: the ceiling the blocked product can reach.
func BenchmarkTile(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	a, bp := randSlice(r, blockK*maxTileM), randSlice(r, blockK*maxTileN)
	half := PackAs(BF16, bp, blockK, maxTileN).half
	pairs := make([]float32, len(a))
	packAPairs(pairs, a, blockK, 0, maxTileM, 0, blockK)
	c := make([]float32, maxTileM*maxTileN)
	benchKernels(b, func(b *testing.B) {
		mt, np := impl.mt, impl.np
		flops := float64(2 * mt * np * tileN * blockK)
		b.Run("weights=f32", func(b *testing.B) {
			benchFlops(b, flops, func() {
				impl.tile(mt, np, blockK, a, 0, blockK*tileM, bp, blockK*tileN, c, np*tileN, nil, initZero)
			})
		})
		if impl.tileBF16 == nil {
			return
		}
		ap := a
		if impl.packPairs != nil {
			ap = pairs
		}
		b.Run("weights=bf16", func(b *testing.B) {
			benchFlops(b, flops, func() {
				impl.tileBF16(mt, np, blockK, ap, 0, blockK*tileM, half, blockK*tileN, c, np*tileN, nil, initZero)
			})
		})
	})
}

// BenchmarkLayerNorm is one layer norm of GPT-2 small on 256 tokens: 256 rows of 768.
func BenchmarkLayerNorm(b *testing.B) {
	const T, D = 256, 768
	r := rand.New(rand.NewPCG(7, 7))
	x, w, bias, out := randSlice(r, T*D), randSlice(r, D), randSlice(r, D), make([]float32, T*D)
	benchValues(b, T*D, func() {
		for i := 0; i < T; i++ {
			LayerNorm(out[i*D:(i+1)*D], x[i*D:(i+1)*D], w, bias, 1e-5)
		}
	})
}

// BenchmarkStreamRead reads 512 MB once per iteration with every thread (Dot over 64 KB
// chunks): the memory bandwidth a decode step, which reads every weight once, is bound by.
// `mechlens bench` reports a decode step's GB/s beside it.
func BenchmarkStreamRead(b *testing.B) {
	const n, chunk = 128 << 20, 16 << 10
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	ones := x[:chunk]
	b.SetBytes(4 * n)
	for b.Loop() {
		ParallelFor(n/chunk, func(i int) { Dot(x[i*chunk:(i+1)*chunk], ones) })
	}
}
