package tensor

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Tile and block sizes. tileM×tileN is the packing unit: A is packed in micro-panels of
// tileM rows, B in micro-panels of tileN columns (the Packed layout). A kernel's register
// tile is a whole number of each, at most maxTileM×maxTileN. blockK bounds the k extent of
// one pass so a B micro-panel [blockK][tileN] (16 KiB) stays in L1 while a column of tiles
// runs over it; blockM bounds the packed A block [blockM][blockK] (288 KiB) kept in L2;
// blockN bounds Gemm's packed B block [blockK][blockN] (1 MiB, L3). Measured on Zen 3
// (32 KiB L1d, 512 KiB L2): kc 256–512 and mc 144–288 are all within a few percent.
const (
	tileM  = 6
	tileN  = 16
	blockK = 256
	// pairBlockK is blockK for bfloat16 pairs of A and B: the same 16 KiB of a B panel,
	// and half the passes over C (3% more GFLOP per CPU-second on [256×768]·[768×3072]).
	pairBlockK = 2 * blockK
	blockM     = 288
	blockN     = 1024

	maxTileM = 2 * tileM
	maxTileN = 2 * tileN

	// Products under this many flops run on one goroutine (starting another costs more),
	// unless B has more than serialB elements: a product of one row streams B from memory,
	// and two cores draw more bandwidth than one.
	serialFlops = 1 << 21
	serialB     = 1 << 18
)

// Accumulator start of a micro-kernel call (its init argument).
const (
	initZero = iota // C tile = A·B
	initBias        // C tile = bias + A·B, bias a row as wide as the tile
	initLoad        // C tile += A·B
)

var threads atomic.Int64 // 0 until SetThreads: GOMAXPROCS

// SetThreads sets how many goroutines a product may use; n < 1 means all cores. It is safe
// to call while products run; they keep the count they started with.
func SetThreads(n int) {
	if n < 1 {
		n = 0
	}
	threads.Store(int64(n))
}

// Threads reports the current thread count.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Kernel names the micro-kernels in use: "avx512bf16" (avx512 with AVX512_BF16 for
// bfloat16 weights), "avx512" (AVX-512F assembly), "avx2" (AVX2+FMA assembly), "neon"
// (arm64 assembly) or "generic" (Go).
func Kernel() string { return impl.name }

// RoundsActivations reports whether the kernel set called name rounds A to bfloat16 in
// products with bfloat16 weights (avx512bf16, whose VDPBF16PS multiplies two bfloat16
// values), where the others widen the weights and multiply in float32.
func RoundsActivations(name string) bool {
	for _, ks := range kernelSets {
		if ks.name == name {
			return ks.packPairs != nil
		}
	}
	return false
}

// DefaultKernel names the kernel set chosen for this CPU at start-up: the last of Kernels.
func DefaultKernel() string { return kernelSets[len(kernelSets)-1].name }

// Kernels names the kernel sets this CPU can run, slowest first; the last is the default.
func Kernels() []string {
	names := make([]string, len(kernelSets))
	for i, ks := range kernelSets {
		names[i] = ks.name
	}
	return names
}

// SetKernel switches to the kernel set called name (one of Kernels), to compare them on one
// machine. Call it before any product runs: the switch is not synchronized with them.
func SetKernel(name string) error {
	for _, ks := range kernelSets {
		if ks.name == name {
			impl = ks
			return nil
		}
	}
	return fmt.Errorf("kernel %q is not available on this CPU (available: %s)", name, strings.Join(Kernels(), ", "))
}

// PeakGFLOPS measures one core's multiply-add throughput with the kernel in use for
// products with weights stored as t, over about d: the roofline that GEMM rates are quoted
// against (the FMA peak, or VDPBF16PS's on avx512bf16 with bfloat16 weights).
func PeakGFLOPS(d time.Duration, t WeightType) float64 {
	peak := impl.peak
	if t == BF16 && impl.peakBF16 != nil {
		peak = impl.peakBF16
	}
	n, flops := 1<<12, 0.0
	start := time.Now()
	for time.Since(start) < d {
		peak(n)
		flops += 192 * float64(n)
	}
	return flops / time.Since(start).Seconds() / 1e9
}

// Packed is the B operand of MatMul, a [K, N] matrix packed once (at model load) into
// column panels for the micro-kernel. It is the only copy of a weight the model keeps.
//
// Layout: ⌈N/16⌉ panels, panel p holding columns [16p, 16p+16) as [K][16] row-major; the
// last panel is padded with zeros. The elements are float32 (data) or, for half-size
// weights, bfloat16 (half) in the same order; the kernels widen bfloat16 to float32 as they
// load it, so a product computes exactly what it would with the widened float32 matrix.
type Packed struct {
	K, N int
	data []float32 // [⌈N/16⌉][K][16]; nil when half holds the matrix
	half []uint16  // [⌈N/16⌉][K][16] bfloat16; nil for float32
}

// Pack packs b, a row-major [K, N] matrix, as float32.
func Pack(b []float32, K, N int) *Packed { return PackAs(F32, b, K, N) }

// PackTransposed packs the transpose of bt, a row-major [N, K] matrix, as float32: the
// result is [K, N]. The unembedding W_U = W_Eᵀ is packed this way from the tied embedding.
func PackTransposed(bt []float32, N, K int) *Packed { return PackTransposedAs(F32, bt, N, K) }

// PackAs packs b, a row-major [K, N] matrix, stored as t (bfloat16 rounds each element to
// nearest, ties to even).
func PackAs(t WeightType, b []float32, K, N int) *Packed {
	checkLen("Pack", "b", b, K*N)
	return newPacked(t, K, N, func(dst []float32, jc, nc int) { packB(dst, b, N, false, 0, K, jc, nc, N) })
}

// PackTransposedAs is PackTransposed stored as t.
func PackTransposedAs(t WeightType, bt []float32, N, K int) *Packed {
	checkLen("PackTransposed", "bt", bt, N*K)
	return newPacked(t, K, N, func(dst []float32, jc, nc int) { packB(dst, bt, K, true, 0, K, jc, nc, N) })
}

// newPacked makes a [K, N] Packed of type t whose columns [jc, jc+nc) fill packs into dst
// as panels. A bfloat16 matrix is packed one float32 panel at a time and rounded, so that
// packing never holds a float32 copy of the whole matrix.
func newPacked(t WeightType, K, N int, fill func(dst []float32, jc, nc int)) *Packed {
	if K < 0 || N < 0 {
		panic(fmt.Sprintf("tensor: Pack: negative shape [%d, %d]", K, N))
	}
	size := ceilDiv(N, tileN) * tileN * K
	p := &Packed{K: K, N: N}
	switch t {
	case F32:
		p.data = make([]float32, size)
		fill(p.data, 0, N)
	case BF16:
		p.half = make([]uint16, size)
		panel := make([]float32, K*tileN)
		for j := 0; j < N; j += tileN {
			fill(panel, j, min(tileN, N-j))
			for i, v := range panel {
				p.half[j*K+i] = ToBF16(v)
			}
		}
	default:
		panic(fmt.Sprintf("tensor: Pack: unknown weight type %d", t))
	}
	return p
}

// Type is how p stores its elements.
func (p *Packed) Type() WeightType {
	if p.half != nil {
		return BF16
	}
	return F32
}

// get returns stored element i (in layout order) as float32.
func (p *Packed) get(i int) float32 {
	if p.half != nil {
		return FromBF16(p.half[i])
	}
	return p.data[i]
}

// set stores v as element i, rounded to the storage type.
func (p *Packed) set(i int, v float32) {
	if p.half != nil {
		p.half[i] = ToBF16(v)
		return
	}
	p.data[i] = v
}

// load copies the elements [i, i+len(dst)) (in layout order) into dst as float32.
func (p *Packed) load(i int, dst []float32) {
	if p.half != nil {
		for j, h := range p.half[i : i+len(dst)] {
			dst[j] = FromBF16(h)
		}
		return
	}
	copy(dst, p.data[i:])
}

// store writes src as the elements [i, i+len(src)), rounded to the storage type.
func (p *Packed) store(i int, src []float32) {
	if p.half != nil {
		for j, v := range src {
			p.half[i+j] = ToBF16(v)
		}
		return
	}
	copy(p.data[i:], src)
}

// At returns element (k, n).
func (p *Packed) At(k, n int) float32 {
	if uint(k) >= uint(p.K) || uint(n) >= uint(p.N) {
		panic(fmt.Sprintf("tensor: Packed.At(%d, %d) outside [%d, %d]", k, n, p.K, p.N))
	}
	return p.get(((n/tileN)*p.K+k)*tileN + n%tileN)
}

// Row copies row k ([N]) into dst.
func (p *Packed) Row(k int, dst []float32) {
	if uint(k) >= uint(p.K) {
		panic(fmt.Sprintf("tensor: Packed.Row(%d) outside [0, %d)", k, p.K))
	}
	dst = dst[:p.N]
	for j0 := 0; j0 < p.N; j0 += tileN {
		p.load(((j0/tileN)*p.K+k)*tileN, dst[j0:min(j0+tileN, p.N)])
	}
}

// Col copies column n ([K]) into dst.
func (p *Packed) Col(n int, dst []float32) {
	if uint(n) >= uint(p.N) {
		panic(fmt.Sprintf("tensor: Packed.Col(%d) outside [0, %d)", n, p.N))
	}
	dst = dst[:p.K]
	i0 := (n/tileN)*p.K*tileN + n%tileN
	for k := range dst {
		dst[k] = p.get(i0 + k*tileN)
	}
}

// Unpack returns a fresh row-major [K, N] float32 copy.
func (p *Packed) Unpack() []float32 {
	out := make([]float32, p.K*p.N)
	for k := 0; k < p.K; k++ {
		p.Row(k, out[k*p.N:])
	}
	return out
}

// bpanels is a packed B operand from some panel offset on: float32 (f) or bfloat16 (h)
// panels in the Packed layout, one of the two set.
type bpanels struct {
	f []float32
	h []uint16
}

func (b bpanels) packed() bool { return b.f != nil || b.h != nil }

// from returns the panels from element i on.
func (b bpanels) from(i int) bpanels {
	if b.h != nil {
		return bpanels{h: b.h[i:]}
	}
	return bpanels{f: b.f[i:]}
}

// tile runs impl's micro-kernel for b's element type; see kernelSet.tile.
func (b bpanels) tile(mr, np, kc int, a []float32, lda, astride, bstride int, c []float32, ldc int, bias []float32, init int) {
	if b.h != nil {
		impl.tileBF16(mr, np, kc, a, lda, astride, b.h, bstride, c, ldc, bias, init)
		return
	}
	impl.tile(mr, np, kc, a, lda, astride, b.f, bstride, c, ldc, bias, init)
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
	g := gemmJob{M: M, N: N, K: K, a: a, lda: K, alpha: 1, bpack: bpanels{p.data, p.half}, c: c, ldc: N, init: initZero}
	if bias != nil {
		g.bias, g.init = bias, initBias
	}
	g.parallel()
}

// Gemm sets c = alpha·op(a)·op(b) + beta·c for row-major strided matrices, where op(a) is
// [M, K] (a stored [K, M] when transA) and op(b) is [K, N] (b stored [N, K] when transB).
// With beta == 0, c is overwritten (NaNs in c do not propagate).
//
// Each element is beta·c (rounded), then, block after block of blockK consecutive k, plus
// the FMA chain of (alpha·a_ik)·b_kj over the block. alpha is folded into a while packing,
// which is exact when it is a power of two (as attention's 1/√64 is).
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

// gemmJob is one product C[M, N] (+)= op(A)[M, K]·op(B)[K, N]. Each operand is read
// from a whole-packed copy when there is one (apack, bpack; bpack is the Packed data for
// MatMul), else packed block by block by the task that needs it.
type gemmJob struct {
	M, N, K int
	a       []float32
	lda     int
	transA  bool
	alpha   float32 // folded into A while packing
	b       []float32
	ldb     int
	transB  bool
	c       []float32
	ldc     int
	bias    []float32 // [N], with init == initBias
	beta    float32   // Gemm's; C is scaled first unless it is 0 or 1
	init    int       // accumulator start of the first k block

	directA bool      // the kernels read A in place (not transposed, alpha 1): no A packing
	pairs   bool      // A is packed as bfloat16 pairs for impl.tileBF16 (impl.packPairs)
	kb      int       // k extent of a block: blockK, or pairBlockK with pairs
	apack   []float32 // A packed whole: block pc holds ⌈M/6⌉ micro-panels [kc][6] at Mpad·pc
	bpack   bpanels   // B packed whole: [⌈N/16⌉][K][16], the Packed layout
}

// parallel runs the product on up to threads goroutines. With enough column panels it
// packs A whole, then hands out column chunks; else, with enough row tiles, it packs B
// whole and hands out row chunks. Chunks go to whichever goroutine is free, which keeps
// both cores busy when one is shared with other work.
//
// Every element of C is computed by the same sequence whatever the split: start at the
// bias (or zero), then for each block of blockK consecutive k from k = 0 (pairBlockK with
// bfloat16 pairs), one FMA chain over the block added to it in block order. So 1 or N
// threads give bitwise identical results.
func (g *gemmJob) parallel() {
	nt := Threads()
	panels, tiles := ceilDiv(g.N, tileN), ceilDiv(g.M, tileM)
	// Packing A costs about as much as 30 of its uses; it pays off when each element is
	// used by enough columns, else the kernels read A in place (a few % slower per flop).
	g.pairs = g.bpack.h != nil && impl.packPairs != nil
	g.kb = blockK
	if g.pairs {
		g.kb = pairBlockK
	}
	g.directA = !g.pairs && !g.transA && g.alpha == 1 && g.N <= 512
	switch g.split(nt) {
	case byColumns:
		if g.directA {
			g.byColumns(nt, panels)
			break
		}
		mpad := tiles * tileM
		buf := getBuf(mpad * g.K)
		defer putBuf(buf)
		g.apack = *buf
		// One pack job per (k block, row tile group); then column chunks of ≥ 1 panel,
		// about four per thread.
		groups := ceilDiv(tiles, 8)
		kblocks := ceilDiv(g.K, g.kb)
		forEach(nt, kblocks*groups, func(_, i int) {
			pc := (i / groups) * g.kb
			kc := min(g.kb, g.K-pc)
			i0 := (i % groups) * 8 * tileM
			mc := min(8*tileM, g.M-i0)
			g.packA(g.apack[mpad*pc+i0*kc:], i0, mc, pc, kc)
		})
		g.byColumns(nt, panels)
	case byRows:
		if !g.bpack.packed() {
			buf := getBuf(panels * tileN * g.K)
			defer putBuf(buf)
			g.bpack.f = *buf
			forEach(nt, panels, func(_, p int) {
				packB(g.bpack.f[p*g.K*tileN:], g.b, g.ldb, g.transB, 0, g.K, p*tileN, min(tileN, g.N-p*tileN), g.N)
			})
		}
		step := roundUp(ceilDiv(tiles, 4*nt)*tileM, impl.mt)
		g.chunks(nt, ceilDiv(g.M, step), func(i int) (i0, i1, j0, j1 int) {
			return i * step, min((i+1)*step, g.M), 0, g.N
		})
	default:
		w := newWorkspace()
		g.run(w, 0, g.M, 0, g.N)
		w.free()
	}
}

// byColumns computes the product in column chunks of whole panels, about four per
// goroutine.
func (g *gemmJob) byColumns(nt, panels int) {
	step := roundUp(ceilDiv(panels, 4*nt)*tileN, impl.np*tileN)
	g.chunks(nt, ceilDiv(g.N, step), func(i int) (i0, i1, j0, j1 int) {
		return 0, g.M, i * step, min((i+1)*step, g.N)
	})
}

// How parallel splits a product.
const (
	serial = iota
	byColumns
	byRows
)

// split chooses how to share the product among nt goroutines.
func (g *gemmJob) split(nt int) int {
	panels, tiles := ceilDiv(g.N, tileN), ceilDiv(g.M, tileM)
	switch {
	case nt < 2 || 2*float64(g.M)*float64(g.N)*float64(g.K) < serialFlops && g.N*g.K <= serialB:
		return serial
	case panels >= 4*nt:
		return byColumns
	case tiles >= 2*nt:
		return byRows
	}
	return serial
}

// chunks computes n chunks of C, chunk i being rows [i0, i1) × columns [j0, j1) of
// bounds(i), on nt goroutines.
func (g *gemmJob) chunks(nt, n int, bounds func(i int) (i0, i1, j0, j1 int)) {
	ws := make([]*workspace, nt)
	for w := range ws {
		ws[w] = newWorkspace()
	}
	forEach(nt, n, func(w, i int) {
		i0, i1, j0, j1 := bounds(i)
		g.run(ws[w], i0, i1, j0, j1)
	})
	for _, w := range ws {
		w.free()
	}
}

// workspace holds one goroutine's packing buffers, taken from a pool when first needed.
type workspace struct {
	a, b *[]float32
	wide *[]float32                   // bfloat16 B panels widened for a kernel set without bfloat16 kernels
	tmp  [maxTileM * maxTileN]float32 // edge tiles of C
	pad  [maxTileN]float32            // bias of an edge tile
}

// Workspaces are pooled: a forward pass runs a few hundred products, and allocating each
// one's workspaces (with their pointer header and zeroed tiles) cost 2–3% of a 64-token pass.
var workspaces = sync.Pool{New: func() any { return new(workspace) }}

func newWorkspace() *workspace { return workspaces.Get().(*workspace) }

// free returns the packing buffers to their pool and the workspace to its own. tmp needs
// no clearing: an edge tile's lanes past C's edge are computed and dropped.
func (w *workspace) free() {
	for _, buf := range []*[]float32{w.a, w.b, w.wide} {
		if buf != nil {
			putBuf(buf)
		}
	}
	w.a, w.b, w.wide = nil, nil, nil
	workspaces.Put(w)
}

// widen returns the np bfloat16 micro-panels h[i·bstride:][kc][16] as float32 ones, kc·16
// apart, in w: once per column of tiles, for all its rows.
func (w *workspace) widen(h []uint16, np, kc, bstride int) []float32 {
	wide := w.slice(&w.wide, np*kc*tileN)
	for i := range np {
		dst := wide[i*kc*tileN : (i+1)*kc*tileN]
		for j, v := range h[i*bstride:][:len(dst)] {
			dst[j] = FromBF16(v)
		}
	}
	return wide
}

// slice returns *buf resized to n, taking a pooled buffer when needed.
func (w *workspace) slice(buf **[]float32, n int) []float32 {
	if *buf == nil || cap(**buf) < n {
		if *buf != nil {
			putBuf(*buf)
		}
		*buf = getBuf(n)
	}
	return (**buf)[:n]
}

// run computes rows [i0, i1) × columns [j0, j1) of C; i0 is a multiple of tileM and j0 of
// tileN.
func (g *gemmJob) run(w *workspace, i0, i1, j0, j1 int) {
	if g.init == initLoad && g.beta != 1 {
		scaleRows(g.c, i0, i1, j0, j1, g.ldc, g.beta)
	}
	if g.bpack.packed() && i1-i0 <= tileM {
		g.runPanels(w, i0, i1, j0, j1)
		return
	}
	mpad := ceilDiv(g.M, tileM) * tileM
	ncStep := j1 - j0 // B packed whole: one pass over the columns
	if !g.bpack.packed() {
		ncStep = blockN
	}
	for jc := j0; jc < j1; jc += ncStep {
		nc := min(ncStep, j1-jc)
		for pc := 0; pc < g.K; pc += g.kb {
			kc := min(g.kb, g.K-pc)
			init := initLoad
			if pc == 0 {
				init = g.init
			}
			// bblk holds the B micro-panels [kc][16] of this block, bstride apart.
			var bblk bpanels
			bstride := g.K * tileN
			if g.bpack.packed() {
				bblk = g.bpack.from((jc/tileN)*bstride + pc*tileN)
			} else {
				bstride = kc * tileN
				bblk.f = w.slice(&w.b, ceilDiv(nc, tileN)*bstride)
				packB(bblk.f, g.b, g.ldb, g.transB, pc, kc, jc, nc, g.N)
			}
			for ic := i0; ic < i1; ic += blockM {
				mc := min(blockM, i1-ic)
				var ablk []float32
				switch {
				case g.directA:
					ablk = g.a[ic*g.lda+pc:]
				case g.apack != nil:
					ablk = g.apack[mpad*pc+ic*kc:]
				default:
					ablk = w.slice(&w.a, ceilDiv(mc, tileM)*tileM*kc)
					g.packA(ablk, ic, mc, pc, kc)
				}
				g.block(w, ablk, bblk, bstride, ic, mc, jc, nc, kc, init)
			}
		}
	}
}

// runPanels computes rows [i0, i1), one tile high, against a pre-packed B. Nothing reuses
// a B panel then, so each is streamed whole over k, which the packed layout stores
// contiguously, instead of k block by k block across all panels: a decode step reads the
// weights at close to memory speed. The k blocks and their order are the same as run's, so
// the numbers are too.
func (g *gemmJob) runPanels(w *workspace, i0, i1, j0, j1 int) {
	mc := i1 - i0
	var apanel []float32 // [k blocks][kc][tileM], as parallel packs it
	switch {
	case g.directA:
	case g.apack != nil:
		apanel = g.apack // only for M ≤ tileM: one row tile at i0 = 0
	default:
		apanel = w.slice(&w.a, tileM*g.K)
		for pc := 0; pc < g.K; pc += g.kb {
			g.packA(apanel[tileM*pc:], i0, mc, pc, min(g.kb, g.K-pc))
		}
	}
	for jc := j0; jc < j1; jc += impl.np * tileN {
		for pc := 0; pc < g.K; pc += g.kb {
			kc := min(g.kb, g.K-pc)
			init := initLoad
			if pc == 0 {
				init = g.init
			}
			ablk := g.a[i0*g.lda+pc:]
			if !g.directA {
				ablk = apanel[tileM*pc:]
			}
			g.block(w, ablk, g.bpack.from((jc/tileN)*g.K*tileN+pc*tileN), g.K*tileN, i0, mc, jc, min(impl.np*tileN, j1-jc), kc, init)
		}
	}
}

// block runs the micro-kernel over rows [ic, ic+mc) × columns [jc, jc+nc) of C for one k
// block: column of tiles by column of tiles, so the B micro-panels of a tile stay in L1
// while the A block streams from L2. A tile is up to impl.mt rows (whole A micro-panels)
// by impl.np B micro-panels.
func (g *gemmJob) block(w *workspace, ablk []float32, bblk bpanels, bstride, ic, mc, jc, nc, kc, init int) {
	astride := kc * tileM // packed: the next A micro-panel
	if g.directA {
		astride = tileM * g.lda
	}
	for jr := 0; jr < nc; jr += impl.np * tileN {
		col := jc + jr
		np := min(impl.np, ceilDiv(nc-jr, tileN))
		bp, pstride := bblk.from((jr/tileN)*bstride), bstride
		if bp.h != nil && impl.tileBF16 == nil {
			bp, pstride = bpanels{f: w.widen(bp.h, np, kc, bstride)}, kc*tileN
		}
		width := np * tileN
		nr := min(width, g.N-col)
		var bias []float32
		if init == initBias {
			bias = g.bias[col:]
			if nr < width {
				copy(w.pad[:], bias[:nr])
				clear(w.pad[nr:width])
				bias = w.pad[:]
			}
		}
		for ir := 0; ir < mc; ir += impl.mt {
			mr := min(impl.mt, mc-ir)
			var ap []float32
			lda := 0 // packed
			if g.directA {
				ap, lda = ablk[ir*g.lda:], g.lda
			} else {
				ap = ablk[(ir/tileM)*kc*tileM:]
			}
			ct := g.c[(ic+ir)*g.ldc+col:]
			if nr == width {
				bp.tile(mr, np, kc, ap, lda, astride, pstride, ct, g.ldc, bias, init)
				continue
			}
			// Edge tile: through tmp, so the kernel's full-width stores stay inside C.
			if init == initLoad {
				for r := 0; r < mr; r++ {
					copy(w.tmp[r*width:r*width+nr], ct[r*g.ldc:])
				}
			}
			bp.tile(mr, np, kc, ap, lda, astride, pstride, w.tmp[:], width, bias, init)
			for r := 0; r < mr; r++ {
				copy(ct[r*g.ldc:r*g.ldc+nr], w.tmp[r*width:])
			}
		}
	}
}

// packA packs rows [ic, ic+mc) × columns [pc, pc+kc) of op(A) for the kernels: as float32
// (packA), or as bfloat16 pairs (packAPairs) for a kernel set with packPairs.
func (g *gemmJob) packA(dst []float32, ic, mc, pc, kc int) {
	if g.pairs {
		packAPairs(dst, g.a, g.lda, ic, mc, pc, kc)
		return
	}
	packA(dst, g.a, g.lda, g.transA, ic, mc, pc, kc, g.alpha)
}

// packAPairs packs rows [ic, ic+mc) × columns [pc, pc+kc) of a (row stride lda) as
// bfloat16 pairs along k: micro-panel q keeps packA's place, dst[q·kc·6:], and fills its
// first ⌈kc/2⌉·6 slots as [⌈kc/2⌉][6], slot (j, r) holding the bits of
// bf16(a[r][2j]) | bf16(a[r][2j+1])<<16, the high half 0 past kc and whole slots 0 past mc.
// Only MatMul's A comes here: never transposed, alpha 1.
func packAPairs(dst, a []float32, lda, ic, mc, pc, kc int) {
	kp := ceilDiv(kc, 2)
	for ir := 0; ir < mc; ir += tileM {
		panel := dst[(ir/tileM)*kc*tileM:][:kp*tileM]
		mr := min(tileM, mc-ir)
		if mr < tileM {
			clear(panel)
		}
		j0 := 0 // pairs packed in bulk
		if mr == tileM {
			j0 = kc / 32 * 16
			impl.packPairs(panel, a[(ic+ir)*lda+pc:], lda, j0/16)
		}
		for r := range mr {
			row := a[(ic+ir+r)*lda+pc:][:kc]
			d := panel[r:]
			for j := j0; j < kc/2; j++ {
				d[j*tileM] = math.Float32frombits(uint32(ToBF16(row[2*j])) | uint32(ToBF16(row[2*j+1]))<<16)
			}
			if kc%2 == 1 {
				d[(kp-1)*tileM] = math.Float32frombits(uint32(ToBF16(row[kc-1])))
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
		switch {
		case !trans && nr == tileN:
			for k := 0; k < kc; k++ {
				*(*[tileN]float32)(panel[k*tileN:]) = [tileN]float32(b[(pc+k)*ldb+j:])
			}
			continue
		case !trans:
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

// roundUp rounds a up to a multiple of b.
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

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
