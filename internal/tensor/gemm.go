package tensor

import (
	"fmt"
	"runtime"
	"sync"
)

// Tile and block sizes. A register tile is tileM×tileN of C. blockK bounds the k extent of
// one pass so a B micro-panel [blockK][tileN] (16 KiB) stays in L1 while a column of tiles
// runs over it; blockM bounds the packed A block [blockM][blockK] (144 KiB) kept in L2;
// blockN bounds Gemm's packed B block [blockK][blockN] (1 MiB, L2/L3).
var (
	blockK = 256
	blockM = 144
	blockN = 1024
)

const (
	tileM = 6
	tileN = 16

	// Products under this many flops run on one goroutine: starting another costs more.
	serialFlops = 1 << 21
)

// Accumulator start of a micro-kernel call (its init argument).
const (
	initZero = iota // C tile = A·B
	initBias        // C tile = bias + A·B, bias a [tileN] row
	initLoad        // C tile += A·B
)

var threads = runtime.GOMAXPROCS(0)

// SetThreads sets how many goroutines a product may use; n < 1 means all cores.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	threads = n
}

// Threads reports the current thread count.
func Threads() int { return threads }

// Packed is the B operand of MatMul, a [K, N] matrix packed once (at model load) into
// column panels for the micro-kernel. It is the only copy of a weight the model keeps.
//
// Layout: ⌈N/16⌉ panels, panel p holding columns [16p, 16p+16) as [K][16] row-major; the
// last panel is padded with zeros.
type Packed struct {
	K, N int
	data []float32 // [⌈N/16⌉][K][16]
}

// Pack packs b, a row-major [K, N] matrix.
func Pack(b []float32, K, N int) *Packed {
	checkLen("Pack", "b", b, K*N)
	p := newPacked(K, N)
	packB(p.data, b, N, false, 0, K, 0, N, N)
	return p
}

// PackTransposed packs the transpose of bt, a row-major [N, K] matrix: the result is [K, N].
// The unembedding W_U = W_Eᵀ is packed this way from the tied embedding.
func PackTransposed(bt []float32, N, K int) *Packed {
	checkLen("PackTransposed", "bt", bt, N*K)
	p := newPacked(K, N)
	packB(p.data, bt, K, true, 0, K, 0, N, N)
	return p
}

func newPacked(K, N int) *Packed {
	if K < 0 || N < 0 {
		panic(fmt.Sprintf("tensor: Pack: negative shape [%d, %d]", K, N))
	}
	return &Packed{K: K, N: N, data: make([]float32, ceilDiv(N, tileN)*tileN*K)}
}

// At returns element (k, n).
func (p *Packed) At(k, n int) float32 {
	if uint(k) >= uint(p.K) || uint(n) >= uint(p.N) {
		panic(fmt.Sprintf("tensor: Packed.At(%d, %d) outside [%d, %d]", k, n, p.K, p.N))
	}
	return p.data[((n/tileN)*p.K+k)*tileN+n%tileN]
}

// Row copies row k ([N]) into dst.
func (p *Packed) Row(k int, dst []float32) {
	if uint(k) >= uint(p.K) {
		panic(fmt.Sprintf("tensor: Packed.Row(%d) outside [0, %d)", k, p.K))
	}
	dst = dst[:p.N]
	for j0 := 0; j0 < p.N; j0 += tileN {
		src := p.data[((j0/tileN)*p.K+k)*tileN:]
		copy(dst[j0:min(j0+tileN, p.N)], src)
	}
}

// Col copies column n ([K]) into dst.
func (p *Packed) Col(n int, dst []float32) {
	if uint(n) >= uint(p.N) {
		panic(fmt.Sprintf("tensor: Packed.Col(%d) outside [0, %d)", n, p.N))
	}
	dst = dst[:p.K]
	src := p.data[(n/tileN)*p.K*tileN+n%tileN:]
	for k := range dst {
		dst[k] = src[k*tileN]
	}
}

// Unpack returns a fresh row-major [K, N] copy.
func (p *Packed) Unpack() []float32 {
	out := make([]float32, p.K*p.N)
	for k := 0; k < p.K; k++ {
		p.Row(k, out[k*p.N:])
	}
	return out
}

// MatMul sets c[M, N] = a[M, K] · p (+ bias[N] when bias is not nil).
func MatMul(c, a []float32, M int, p *Packed, bias []float32) {
	K, N := p.K, p.N
	checkLen("MatMul", "a", a, M*K)
	checkLen("MatMul", "c", c, M*N)
	if bias != nil {
		checkLen("MatMul", "bias", bias, N)
	}
	if M <= 0 || N == 0 {
		return
	}
	if K == 0 {
		for i := 0; i < M; i++ {
			if bias != nil {
				copy(c[i*N:(i+1)*N], bias)
			} else {
				clear(c[i*N : (i+1)*N])
			}
		}
		return
	}
	g := gemmJob{M: M, N: N, K: K, a: a, lda: K, alpha: 1, p: p, c: c, ldc: N, init: initZero}
	if bias != nil {
		g.bias, g.init = bias, initBias
	}
	g.parallel()
}

// Gemm sets c = alpha·op(a)·op(b) + beta·c for row-major strided matrices, where op(a) is
// [M, K] (a stored [K, M] when transA) and op(b) is [K, N] (b stored [N, K] when transB).
// With beta == 0, c is overwritten (NaNs in c do not propagate).
//
// Each element is computed as beta·c followed by the FMA chain of (alpha·a_ik)·b_kj over
// k in order, so it differs from alpha·(a·b) + beta·c by rounding only (not at all when
// alpha is a power of two, as attention's 1/√64 is).
func Gemm(transA, transB bool, M, N, K int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if M <= 0 || N <= 0 {
		return
	}
	checkStrided("Gemm", "c", c, M, N, ldc)
	if alpha == 0 || K <= 0 {
		scaleRows(c, 0, M, 0, N, ldc, beta)
		return
	}
	if transA {
		checkStrided("Gemm", "a", a, K, M, lda)
	} else {
		checkStrided("Gemm", "a", a, M, K, lda)
	}
	if transB {
		checkStrided("Gemm", "b", b, N, K, ldb)
	} else {
		checkStrided("Gemm", "b", b, K, N, ldb)
	}
	g := gemmJob{
		M: M, N: N, K: K,
		a: a, lda: lda, transA: transA, alpha: alpha,
		b: b, ldb: ldb, transB: transB,
		c: c, ldc: ldc, beta: beta, init: initLoad,
	}
	if beta == 0 {
		g.init = initZero
	}
	g.parallel()
}

// gemmJob is one product C[M, N] (+)= op(A)[M, K]·op(B)[K, N]: B comes prepacked (p) or
// is packed block by block from b.
type gemmJob struct {
	M, N, K int
	a       []float32
	lda     int
	transA  bool
	alpha   float32 // folded into A while packing
	p       *Packed
	b       []float32
	ldb     int
	transB  bool
	c       []float32
	ldc     int
	bias    []float32 // [N], with init == initBias
	beta    float32   // Gemm's; C is scaled first unless it is 0 or 1
	init    int       // accumulator start of the first k block
}

// parallel splits C into one contiguous slab per thread, by column panels when there are
// enough of them, else by row tiles. Since every element of C is one FMA chain over k in
// order, whoever computes it and however the loops are blocked, the result does not depend
// on the split: 1 or N threads give bitwise identical results.
func (g *gemmJob) parallel() {
	nt := threads
	if 2*float64(g.M)*float64(g.N)*float64(g.K) < serialFlops {
		nt = 1
	}
	panels, tiles := ceilDiv(g.N, tileN), ceilDiv(g.M, tileM)
	var wg sync.WaitGroup
	switch {
	case nt > 1 && panels >= 4*nt:
		for t := nt - 1; t >= 0; t-- {
			j0, j1 := t*panels/nt*tileN, min((t+1)*panels/nt*tileN, g.N)
			g.spawn(&wg, t, 0, g.M, j0, j1)
		}
	case nt > 1 && tiles >= 2*nt:
		for t := nt - 1; t >= 0; t-- {
			i0, i1 := t*tiles/nt*tileM, min((t+1)*tiles/nt*tileM, g.M)
			g.spawn(&wg, t, i0, i1, 0, g.N)
		}
	default:
		g.run(0, g.M, 0, g.N)
	}
	wg.Wait()
}

// spawn runs slab t on a new goroutine, or on this one for t == 0 (started last).
func (g *gemmJob) spawn(wg *sync.WaitGroup, t, i0, i1, j0, j1 int) {
	if t == 0 {
		g.run(i0, i1, j0, j1)
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.run(i0, i1, j0, j1)
	}()
}

// run computes the slab rows [i0, i1) × columns [j0, j1) of C; j0 is a multiple of tileN.
func (g *gemmJob) run(i0, i1, j0, j1 int) {
	if g.init == initLoad && g.beta != 1 {
		scaleRows(g.c, i0, i1, j0, j1, g.ldc, g.beta)
	}
	kcMax := min(blockK, g.K)
	abuf := getBuf(min(blockM, ceilDiv(i1-i0, tileM)*tileM) * kcMax)
	defer putBuf(abuf)
	ncStep := j1 - j0 // prepacked B: no copy, one pass over the slab
	var bbuf *[]float32
	if g.p == nil {
		ncStep = blockN
		bbuf = getBuf(min(blockN, ceilDiv(j1-j0, tileN)*tileN) * kcMax)
		defer putBuf(bbuf)
	}
	// Edge tiles (fewer than tileN columns left) go through tmp; bias edges through pad.
	var tmp, pad []float32

	for jc := j0; jc < j1; jc += ncStep {
		nc := min(ncStep, j1-jc)
		for pc := 0; pc < g.K; pc += blockK {
			kc := min(blockK, g.K-pc)
			init := initLoad
			if pc == 0 {
				init = g.init
			}
			// bblk holds the B micro-panels [kc][16] of this block, bstride apart.
			var bblk []float32
			var bstride int
			if g.p != nil {
				bstride = g.K * tileN
				bblk = g.p.data[(jc/tileN)*bstride+pc*tileN:]
			} else {
				bstride = kc * tileN
				bblk = *bbuf
				packB(bblk, g.b, g.ldb, g.transB, pc, kc, jc, nc, g.N)
			}
			for ic := i0; ic < i1; ic += blockM {
				mc := min(blockM, i1-ic)
				packA(*abuf, g.a, g.lda, g.transA, ic, mc, pc, kc, g.alpha)
				for jr := 0; jr < nc; jr += tileN {
					bp := bblk[(jr/tileN)*bstride:]
					col := jc + jr
					nr := min(tileN, g.N-col)
					var bias []float32
					if init == initBias {
						bias = g.bias[col:]
						if nr < tileN {
							if pad == nil {
								pad = make([]float32, tileN)
							}
							copy(pad, bias[:nr])
							bias = pad
						}
					}
					for ir := 0; ir < mc; ir += tileM {
						mr := min(tileM, mc-ir)
						ap := (*abuf)[(ir/tileM)*kc*tileM:]
						ct := g.c[(ic+ir)*g.ldc+col:]
						if nr == tileN {
							impl.tile(mr, kc, ap, bp, ct, g.ldc, bias, init)
							continue
						}
						if tmp == nil {
							tmp = make([]float32, tileM*tileN)
						}
						if init == initLoad {
							for r := 0; r < mr; r++ {
								copy(tmp[r*tileN:r*tileN+nr], ct[r*g.ldc:])
							}
						}
						impl.tile(mr, kc, ap, bp, tmp, tileN, bias, init)
						for r := 0; r < mr; r++ {
							copy(ct[r*g.ldc:r*g.ldc+nr], tmp[r*tileN:])
						}
					}
				}
			}
		}
	}
}

// packA packs rows [ic, ic+mc) × columns [pc, pc+kc) of op(a), times alpha, into dst as
// ⌈mc/6⌉ micro-panels [kc][6]; rows past mc are zero.
func packA(dst, a []float32, lda int, trans bool, ic, mc, pc, kc int, alpha float32) {
	for ir := 0; ir < mc; ir += tileM {
		panel := dst[(ir/tileM)*kc*tileM : (ir/tileM+1)*kc*tileM]
		mr := min(tileM, mc-ir)
		i := ic + ir
		switch {
		case trans:
			for k := 0; k < kc; k++ {
				src := a[(pc+k)*lda+i:][:mr]
				d := panel[k*tileM : k*tileM+tileM]
				for r, v := range src {
					d[r] = alpha * v
				}
				clear(d[mr:])
			}
		case mr == tileM:
			r0 := a[i*lda+pc:][:kc]
			r1 := a[(i+1)*lda+pc:][:kc]
			r2 := a[(i+2)*lda+pc:][:kc]
			r3 := a[(i+3)*lda+pc:][:kc]
			r4 := a[(i+4)*lda+pc:][:kc]
			r5 := a[(i+5)*lda+pc:][:kc]
			for k := range kc {
				d := (*[tileM]float32)(panel[k*tileM:])
				d[0], d[1], d[2] = alpha*r0[k], alpha*r1[k], alpha*r2[k]
				d[3], d[4], d[5] = alpha*r3[k], alpha*r4[k], alpha*r5[k]
			}
		default:
			clear(panel)
			for r := 0; r < mr; r++ {
				for k, v := range a[(i+r)*lda+pc:][:kc] {
					panel[k*tileM+r] = alpha * v
				}
			}
		}
	}
}

// packB packs rows [pc, pc+kc) × columns [jc, jc+nc) of op(b), whose full width is N, into
// dst as ⌈nc/16⌉ micro-panels [kc][16]; columns past N are zero. op(b) is b [K, N] with row
// stride ldb, or bᵀ for b [N, K] when trans.
func packB(dst, b []float32, ldb int, trans bool, pc, kc, jc, nc, N int) {
	for jr := 0; jr < nc; jr += tileN {
		panel := dst[(jr/tileN)*kc*tileN : (jr/tileN+1)*kc*tileN]
		j := jc + jr
		nr := min(tileN, N-j)
		if !trans {
			for k := 0; k < kc; k++ {
				d := panel[k*tileN : k*tileN+tileN]
				copy(d, b[(pc+k)*ldb+j:][:nr])
				clear(d[nr:])
			}
			continue
		}
		if nr < tileN {
			clear(panel)
		}
		for jj := 0; jj < nr; jj++ {
			for k, v := range b[(j+jj)*ldb+pc:][:kc] {
				panel[k*tileN+jj] = v
			}
		}
	}
}

// scaleRows sets c[i, j] = beta·c[i, j] over rows [i0, i1) × columns [j0, j1); beta == 0
// writes zeros so NaNs in c do not survive.
func scaleRows(c []float32, i0, i1, j0, j1, ldc int, beta float32) {
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

var bufPool sync.Pool // *[]float32 packing buffers

func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putBuf(p *[]float32) { bufPool.Put(p) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// checkLen panics unless len(s) ≥ n: a short buffer is a caller bug, and the assembly
// kernels must never run past a slice.
func checkLen(fn, name string, s []float32, n int) {
	if n < 0 || len(s) < n {
		panic(fmt.Sprintf("tensor: %s: len(%s) = %d, need %d", fn, name, len(s), n))
	}
}

// checkStrided checks s holds a [rows, cols] matrix with row stride ld.
func checkStrided(fn, name string, s []float32, rows, cols, ld int) {
	if ld < cols || cols < 0 || rows < 0 {
		panic(fmt.Sprintf("tensor: %s: %s is [%d, %d] with stride %d", fn, name, rows, cols, ld))
	}
	if rows > 0 && cols > 0 {
		checkLen(fn, name, s, (rows-1)*ld+cols)
	}
}
