package gpt2

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/internal/tensor"
)

// Tensor is one activation of one sequence: TransformerLens's shape with the batch
// dimension dropped, row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Cache maps hook names to the activations a run kept.
type Cache map[string]Tensor

// Activation is handed to a hook at its point in the forward pass. Data is live: a hook that
// writes to it changes what the rest of the pass computes (ablation, patching, steering).
type Activation struct {
	Name  string
	Seq   int   // which sequence of the batch
	IDs   []int // that sequence's tokens in this run (after its KV cache's, if any)
	Shape []int
	Data  []float32
}

// HookFunc reads or edits an activation in flight.
type HookFunc func(a Activation)

// Hook attaches a HookFunc to one hook point for one run only (hooks are never global).
type Hook struct {
	Name string
	Fn   HookFunc
}

// LogitMode says which positions need logits: the unembedding is the largest product of
// a short prompt, so audits ask for the last position only.
type LogitMode int

const (
	LogitsAll  LogitMode = iota // [T, V] per sequence
	LogitsLast                  // [V] per sequence: the last position
	LogitsNone                  // no unembedding
)

// RunOptions choose what a run computes, keeps and changes.
type RunOptions struct {
	Logits LogitMode
	// Cache lists the hook names to keep (exact names; see MatchHooks for globs). Nothing
	// else is kept.
	Cache []string
	// Hooks run at their point in forward order; several on one point run in the given order.
	Hooks []Hook
	// StartLayer and StartResid start the pass at block StartLayer's resid_pre, given per
	// sequence as [T, D] (the token ids are then used only for their count).
	StartLayer int
	StartResid [][]float32
	// StopLayer > 0 stops before block StopLayer: no final layer norm and no logits;
	// Result.Resid holds that block's resid_pre.
	StopLayer int
	// Past continues sequences from a KV cache (one per sequence); it is extended in place.
	// It cannot be combined with StartLayer or StopLayer.
	Past []*KVCache
	// Prefix runs sequences after the positions of a KV cache (one per sequence, nil for
	// none) that is read, never extended: sequences may share one, and the run may start
	// at any block (the keys of blocks before StartLayer are not read). It cannot be
	// combined with Past.
	Prefix []*KVCache
	// Context, when set, is checked between blocks: a cancelled run returns its error
	// (context.Canceled), gives its memory back and leaves the KV caches as they were.
	Context context.Context
}

// Result of a run, per sequence. Its tensors may share memory with each other (a cached
// resid_post and the next block's resid_pre, the last one and Resid).
type Result struct {
	Logits [][]float32 // [T, V] or [V] per sequence, as RunOptions.Logits asked
	Cache  []Cache     // per sequence, only the names asked for
	Resid  [][]float32 // [T, D] per sequence: the residual stream where the pass stopped

	mem  *arena // holds every tensor above
	pool *arenaPool
}

// Release gives the result's memory back to its model, whose next runs reuse it instead of
// allocating: a loop of runs that keep activations (a sweep, an audit) should release each
// result once done with it. Nothing of the result may be used afterwards; its tensors will
// hold another run's numbers. The model keeps that memory (at most one run's scratch and
// one result) for as long as it lives.
func (res *Result) Release() {
	if res.mem == nil {
		return
	}
	res.pool.put(res.mem)
	*res = Result{}
}

// Run is the forward pass over a ragged batch: each sequence runs as if it were alone
// (no padding exists inside), so a sequence's numbers do not depend on its batch-mates.
// Everything is checked before any memory is taken or any KV cache extended, so a refused
// run, like a cancelled one (RunOptions.Context), changes nothing.
func (m *Model) Run(seqs [][]int, o RunOptions) (*Result, error) {
	stop, off, err := m.check(seqs, o)
	if err != nil {
		return nil, err
	}
	r := &run{m: m, o: o, hooks: map[string][]HookFunc{}, keep: map[string]bool{}, mem: m.arenas.get(), tmp: m.arenas.get()}
	defer m.arenas.put(r.tmp)
	for _, hs := range [][]Hook{m.Interventions, o.Hooks} { // the model's edits first
		for _, h := range hs {
			r.hooks[h.Name] = append(r.hooks[h.Name], h.Fn)
		}
	}
	for _, n := range o.Cache {
		r.keep[n] = true
	}
	r.off, r.seqs = off, seqs
	before := make([]int, len(o.Past))
	for s, kv := range o.Past {
		if kv != nil {
			before[s] = kv.Len()
		}
	}
	r.res = &Result{Cache: make([]Cache, len(seqs)), mem: r.mem, pool: m.arenas}
	for s := range r.res.Cache {
		r.res.Cache[s] = Cache{}
	}
	if err := r.forward(stop); err != nil {
		for s, kv := range o.Past {
			if kv != nil {
				kv.truncate(before[s])
			}
		}
		m.arenas.put(r.mem)
		return nil, err
	}
	return r.res, nil
}

// check validates a run and returns the block it stops before and the first row of each
// sequence in the ragged batch.
func (m *Model) check(seqs [][]int, o RunOptions) (stop int, off []int, err error) {
	c := m.Config
	if o.Context != nil {
		if err := o.Context.Err(); err != nil {
			return 0, nil, err
		}
	}
	if len(seqs) == 0 {
		return 0, nil, fmt.Errorf("gpt2: no sequences to run")
	}
	stop = c.NLayers
	if o.StopLayer > 0 {
		if o.StopLayer > c.NLayers {
			return 0, nil, fmt.Errorf("gpt2: stop layer %d is past the last block (%d layers)", o.StopLayer, c.NLayers)
		}
		stop = o.StopLayer
	}
	if o.StartLayer < 0 || o.StartLayer > stop {
		return 0, nil, fmt.Errorf("gpt2: start layer %d outside [0, %d]", o.StartLayer, stop)
	}
	if o.StartLayer > 0 && len(o.StartResid) != len(seqs) {
		return 0, nil, fmt.Errorf("gpt2: start layer %d needs a residual stream for each of %d sequences", o.StartLayer, len(seqs))
	}
	if o.Prefix != nil && (o.Past != nil || len(o.Prefix) != len(seqs)) {
		return 0, nil, fmt.Errorf("gpt2: %d prefix caches for %d sequences (and no Past with them)", len(o.Prefix), len(seqs))
	}
	if o.Past != nil {
		if len(o.Past) != len(seqs) {
			return 0, nil, fmt.Errorf("gpt2: %d KV caches for %d sequences", len(o.Past), len(seqs))
		}
		if o.StartLayer > 0 || stop < c.NLayers {
			// The cache would gain keys in some blocks only and no longer match its length.
			return 0, nil, fmt.Errorf("gpt2: a KV cache needs every block: it cannot be used with StartLayer %d or StopLayer %d", o.StartLayer, o.StopLayer)
		}
	}
	for _, n := range o.Cache {
		if err := m.checkPoint(o, stop, "cache", n); err != nil {
			return 0, nil, err
		}
	}
	for _, h := range o.Hooks {
		if err := m.checkPoint(o, stop, "hook", h.Name); err != nil {
			return 0, nil, err
		}
	}
	off = make([]int, len(seqs)+1)
	for s, ids := range seqs {
		if len(ids) == 0 {
			return 0, nil, fmt.Errorf("gpt2: sequence %d is empty", s)
		}
		if past := o.before(s); past+len(ids) > c.NCtx {
			return 0, nil, fmt.Errorf("gpt2: sequence %d has %d tokens, more than the context of %d", s, past+len(ids), c.NCtx)
		}
		for t, id := range ids {
			if id < 0 || id >= c.DVocab {
				return 0, nil, fmt.Errorf("gpt2: sequence %d position %d: token id %d outside the vocabulary [0, %d)", s, t, id, c.DVocab)
			}
		}
		if o.StartLayer > 0 && len(o.StartResid[s]) != len(ids)*c.DModel {
			return 0, nil, fmt.Errorf("gpt2: start residual of sequence %d has %d values, want %d×%d", s, len(o.StartResid[s]), len(ids), c.DModel)
		}
		off[s+1] = off[s] + len(ids)
	}
	return stop, off, nil
}

// before is the number of positions before sequence s: those of its Past or Prefix cache.
func (o *RunOptions) before(s int) int {
	switch {
	case o.Past != nil && o.Past[s] != nil:
		return o.Past[s].Len()
	case o.Prefix != nil && o.Prefix[s] != nil:
		return o.Prefix[s].Len()
	}
	return 0
}

// checkPoint refuses a cache or hook name that is not a hook point of the model (a
// misspelt hook would silently do nothing), or that this run does not reach.
func (m *Model) checkPoint(o RunOptions, stop int, what, name string) error {
	c := m.Config
	layer, ok := pointLayer(c, name)
	if !ok {
		return fmt.Errorf("gpt2: %s %q is not a hook point of this model (%d layers); examples: %s",
			what, name, c.NLayers, strings.Join(suggest(HookNames(c), name), ", "))
	}
	var reached bool
	switch {
	case name == HookLogits:
		reached = stop == c.NLayers && o.Logits == LogitsAll
	case layer < 0:
		reached = o.StartLayer == 0
	case layer == c.NLayers:
		reached = stop == c.NLayers
	default:
		reached = o.StartLayer <= layer && layer < stop
	}
	if !reached {
		return fmt.Errorf("gpt2: %s %q: hook point not computed by this run (blocks %d to %d, logits mode %d)", what, name, o.StartLayer, stop-1, o.Logits)
	}
	return nil
}

// pointLayer returns the block of a hook point of c: -1 for the embeddings, NLayers for
// ln_final and logits; false when name is not a hook point of c.
func pointLayer(c Config, name string) (int, bool) {
	switch name {
	case HookEmbed, HookPosEmbed:
		return -1, true
	case HookLnFinalScale, HookLnFinalNormed, HookLogits:
		return c.NLayers, true
	}
	rest, ok := strings.CutPrefix(name, "blocks.")
	if !ok {
		return 0, false
	}
	num, suffix, ok := strings.Cut(rest, ".")
	l, err := strconv.Atoi(num)
	if !ok || err != nil || l < 0 || l >= c.NLayers || num != strconv.Itoa(l) || !slices.Contains(blockHookNames, suffix) {
		return 0, false
	}
	return l, true
}

// run holds the state of one forward pass.
type run struct {
	m     *Model
	o     RunOptions
	seqs  [][]int
	off   []int // [S+1] first row of each sequence in the ragged batch
	hooks map[string][]HookFunc
	keep  map[string]bool
	res   *Result
	mem   *arena // what the result holds
	tmp   *arena // scratch, back to the model when the run ends
}

func (r *run) wants(name string) bool { return r.keep[name] || r.hooks[name] != nil }

// stage returns the buffer an activation is computed into. A kept activation gets a fresh
// buffer that the cache then holds without copying; nothing writes to it after its hook
// point. Any other activation reuses scratch, which later layers overwrite.
func (r *run) stage(name string, scratch []float32) []float32 {
	if r.keep[name] {
		return r.mem.take(len(scratch))
	}
	return scratch
}

// rows marks a token-major activation buf [N, width] (shape per token: inner) as reached:
// hooks edit each sequence's rows, then the cache keeps them.
func (r *run) rows(name string, buf []float32, inner ...int) {
	if !r.wants(name) {
		return
	}
	w := 1
	for _, d := range inner {
		w *= d
	}
	for s := range r.seqs {
		T := r.off[s+1] - r.off[s]
		r.point(name, s, append([]int{T}, inner...), buf[r.off[s]*w:r.off[s+1]*w:r.off[s+1]*w])
	}
}

// point runs the hooks of one sequence's activation, then caches it if asked. The cache
// holds data itself: callers hand it only buffers from stage.
func (r *run) point(name string, s int, shape []int, data []float32) {
	for _, f := range r.hooks[name] {
		f(Activation{Name: name, Seq: s, IDs: r.seqs[s], Shape: shape, Data: data})
	}
	if r.keep[name] {
		r.res.Cache[s][name] = Tensor{Shape: shape, Data: data}
	}
}

// scratch holds the buffers that activations nobody keeps are computed into, reused by
// every layer.
type scratch struct {
	x, ln, q, k, v, z, out []float32 // [N, D] each
	qkv                    []float32 // [N, 3D]
	scale                  []float32 // [N]
	pre, post              []float32 // [N, M]
	att                    []float32 // [H, T, Tk] of the longest sequence
	pk, pv                 []float32 // [Tk, D] a Prefix's keys and values, then the sequence's
}

func (r *run) forward(stop int) error {
	m, c := r.m, r.m.Config
	N, D, M := r.off[len(r.seqs)], c.DModel, c.DMLP
	nd := func() []float32 { return r.tmp.take(N * D) }
	// x goes to the result as Resid.
	sc := &scratch{x: r.mem.take(N * D), ln: nd(), q: nd(), k: nd(), v: nd(), z: nd(), out: nd(),
		qkv: r.tmp.take(3 * N * D), scale: r.tmp.take(N), pre: r.tmp.take(N * M), post: r.tmp.take(N * M)}
	x := r.stage(BlockHook(r.o.StartLayer, nameResidPre), sc.x) // [N, D] the residual stream
	if r.o.StartLayer == 0 {
		r.embed(x)
	} else {
		for s := range r.seqs {
			copy(x[r.off[s]*D:], r.o.StartResid[s])
		}
	}
	for l := r.o.StartLayer; l < stop; l++ {
		if r.o.Context != nil {
			if err := r.o.Context.Err(); err != nil {
				return err
			}
		}
		b, pb, nm := &m.Params.Blocks[l], &m.layers[l], &m.names[l]
		if l > r.o.StartLayer && r.keep[m.names[l-1].residPost] && r.hooks[nm.residPre] != nil {
			// The cache holds x as the previous resid_post; resid_pre's hooks edit a copy.
			x = append(r.stage(nm.residPre, sc.x)[:0], x...)
		}
		r.rows(nm.residPre, x, D)
		ln := r.layerNorm(sc, x, b.Ln1W, b.Ln1B, nm.ln1Scale, nm.ln1Norm)
		// One product for q, k and v (one pass over A, one fork), then split by columns.
		tensor.MatMul(sc.qkv, ln, N, pb.wqkv, b.AttnB)
		q, k, v := r.stage(nm.q, sc.q), r.stage(nm.k, sc.k), r.stage(nm.v, sc.v)
		byRows(N, 3*D, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := sc.qkv[i*3*D : (i+1)*3*D]
				copy(q[i*D:(i+1)*D], row[:D])
				copy(k[i*D:(i+1)*D], row[D:2*D])
				copy(v[i*D:(i+1)*D], row[2*D:])
			}
		})
		r.rows(nm.q, q, c.NHeads, c.DHead)
		r.rows(nm.k, k, c.NHeads, c.DHead)
		r.rows(nm.v, v, c.NHeads, c.DHead)
		z := r.stage(nm.z, sc.z)
		r.attention(l, sc, z, q, k, v)
		r.rows(nm.z, z, c.NHeads, c.DHead)
		out := r.stage(nm.attnOut, sc.out)
		r.attnOut(l, out, z)
		r.rows(nm.attnOut, out, D)
		x = r.addResid(sc, nm.residMid, x, out)
		r.rows(nm.residMid, x, D)
		ln = r.layerNorm(sc, x, b.Ln2W, b.Ln2B, nm.ln2Scale, nm.ln2Norm)
		pre := r.stage(nm.mlpPre, sc.pre)
		tensor.MatMul(pre, ln, N, pb.win, b.FcB)
		r.rows(nm.mlpPre, pre, M)
		post := r.stage(nm.mlpPost, sc.post)
		byRows(N, M, func(lo, hi int) {
			if c.Activation == "gelu" {
				tensor.GeluErf(post[lo*M:hi*M], pre[lo*M:hi*M])
			} else {
				tensor.GeluTanh(post[lo*M:hi*M], pre[lo*M:hi*M])
			}
		})
		r.rows(nm.mlpPost, post, M)
		out = r.stage(nm.mlpOut, sc.out)
		tensor.MatMul(out, post, N, pb.wout, b.ProjB)
		r.rows(nm.mlpOut, out, D)
		next := nm.residPost
		if l+1 < stop && r.keep[m.names[l+1].residPre] {
			next = m.names[l+1].residPre // fresh when either name is kept
		}
		x = r.addResid(sc, next, x, out)
		r.rows(nm.residPost, x, D)
	}
	if stop < c.NLayers {
		r.res.Resid = r.split(x, D)
		return nil
	}
	ln := r.layerNorm(sc, x, m.Params.LnFW, m.Params.LnFB, HookLnFinalScale, HookLnFinalNormed)
	r.res.Resid = r.split(x, D)
	r.unembed(ln)
	return nil
}

// addResid returns the residual stream after a sublayer, x + out: computed into x itself
// unless the new stream (named name) is kept, or x is (then x is not scratch).
func (r *run) addResid(sc *scratch, name string, x, out []float32) []float32 {
	dst := r.stage(name, sc.x)
	D := r.m.Config.DModel
	byRows(len(dst)/D, D, func(lo, hi int) {
		for i := lo * D; i < hi*D; i++ {
			dst[i] = x[i] + out[i]
		}
	})
	return dst
}

// byRows runs f over blocks of rows [lo, hi) of a [n, w] buffer, in parallel: for the
// element-wise and row-wise steps between the products, which give the same numbers
// however the rows are split.
func byRows(n, w int, f func(lo, hi int)) {
	per := max(1, (16<<10)/w) // rows of about 64 KB
	tensor.ParallelFor((n+per-1)/per, func(i int) { f(i*per, min(n, (i+1)*per)) })
}

// embed writes token plus position embeddings into x [N, D].
func (r *run) embed(x []float32) {
	p, D := r.m.Params, r.m.Config.DModel
	N := len(x) / D
	tok := r.stage(HookEmbed, r.tmp.take(N*D))    // [N, D]
	pos := r.stage(HookPosEmbed, r.tmp.take(N*D)) // [N, D]
	for s, ids := range r.seqs {
		past := r.o.before(s)
		for t, id := range ids {
			row := (r.off[s] + t) * D
			r.m.embedding(id, tok[row:row+D])
			copy(pos[row:row+D], p.WPE[(past+t)*D:(past+t+1)*D])
		}
	}
	r.rows(HookEmbed, tok, D)
	r.rows(HookPosEmbed, pos, D)
	for i := range x {
		x[i] = tok[i] + pos[i]
	}
}

// layerNorm returns (x − mean)/scale · w + b [N, D] row by row, with scale = √(var + eps)
// [N] (TransformerLens's hook_scale).
func (r *run) layerNorm(sc *scratch, x, w, b []float32, scaleName, normName string) []float32 {
	D := r.m.Config.DModel
	out, scale := r.stage(normName, sc.ln), r.stage(scaleName, sc.scale)
	byRows(len(scale), D, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			_, rstd := tensor.LayerNorm(out[i*D:(i+1)*D], x[i*D:(i+1)*D], w, b, r.m.Config.LNEps)
			scale[i] = float32(1 / float64(rstd))
		}
	})
	r.rows(scaleName, scale, 1)
	r.rows(normName, out, D)
	return out
}

// attention fills z [N, H, Dh] from q, k, v [N, H, Dh]: per sequence and head, scores =
// q·kᵀ/√Dh with the causal mask, pattern = softmax(scores), z = pattern·v. With a KV cache,
// keys and values of earlier steps are prepended.
func (r *run) attention(l int, sc *scratch, z, q, k, v []float32) {
	c, nm := r.m.Config, &r.m.names[l]
	H, Dh, D := c.NHeads, c.DHead, c.DModel
	scale := float32(1 / math.Sqrt(float64(Dh)))
	for s := range r.seqs {
		o0, T := r.off[s], r.off[s+1]-r.off[s]
		keys, vals, past := k[o0*D:(o0+T)*D], v[o0*D:(o0+T)*D], r.o.before(s) // [Tk, D]
		if r.o.Past != nil && r.o.Past[s] != nil {
			keys, vals = r.o.Past[s].append(l, keys, vals)
		} else if past > 0 {
			kv := r.o.Prefix[s]
			sc.pk = append(append(sc.pk[:0], kv.k[l][:past*D]...), keys...)
			sc.pv = append(append(sc.pv[:0], kv.v[l][:past*D]...), vals...)
			keys, vals = sc.pk, sc.pv
		}
		Tk := past + T
		if cap(sc.att) < H*T*Tk {
			sc.att = r.tmp.take(H * T * Tk)
		}
		// att [H, T, Tk] holds the scores, then the pattern: softmax runs in place unless the
		// cache keeps the scores.
		att := sc.att[:H*T*Tk]
		if r.keep[nm.scores] {
			att = r.stage(nm.scores, att)
		} else {
			att = r.stage(nm.pattern, att)
		}
		qs, zs := q[o0*D:], z[o0*D:]
		tensor.ParallelFor(H, func(h int) {
			a := att[h*T*Tk : (h+1)*T*Tk]
			if T == 1 {
				// A decode step: packing the keys for Gemm would cost more than these dots.
				for j := range a {
					a[j] = tensor.Dot(qs[h*Dh:(h+1)*Dh], keys[j*D+h*Dh:j*D+(h+1)*Dh])
				}
			} else {
				// alpha = 1 lets Gemm read q in place; the scale is applied with the mask,
				// which also fills the scores of the keys a block of rows never sees.
				for t0 := 0; t0 < T; t0 += causalRows {
					t1 := min(T, t0+causalRows)
					tensor.Gemm(false, true, t1-t0, past+t1, Dh, 1, qs[t0*D+h*Dh:], D, keys[h*Dh:], D, 0, a[t0*Tk:], Tk)
				}
			}
			for t := 0; t < T; t++ {
				row := a[t*Tk : (t+1)*Tk]
				for j := range row[:past+t+1] {
					row[j] *= scale
				}
				for j := past + t + 1; j < Tk; j++ {
					row[j] = float32(math.Inf(-1))
				}
			}
		})
		r.seqPoint(nm.scores, s, []int{H, T, Tk}, att)
		if r.keep[nm.scores] {
			att = append(r.stage(nm.pattern, sc.att[:H*T*Tk])[:0], att...)
		}
		tensor.ParallelFor(H, func(h int) {
			for t := 0; t < T; t++ {
				tensor.SoftmaxInPlace(att[(h*T+t)*Tk : (h*T+t+1)*Tk])
			}
		})
		r.seqPoint(nm.pattern, s, []int{H, T, Tk}, att)
		tensor.ParallelFor(H, func(h int) {
			if T == 1 {
				zh := zs[h*Dh : (h+1)*Dh]
				clear(zh)
				for j, p := range att[h*Tk : (h+1)*Tk] {
					tensor.Axpy(p, vals[j*D+h*Dh:j*D+(h+1)*Dh], zh)
				}
				return
			}
			// The pattern is exactly 0 past each row's last key, so a block of rows stops at
			// its last row's: the products it skips would add +0 to each output.
			for t0 := 0; t0 < T; t0 += causalRows {
				t1 := min(T, t0+causalRows)
				tensor.Gemm(false, false, t1-t0, Dh, past+t1, 1, att[(h*T+t0)*Tk:], Tk, vals[h*Dh:], D, 0, zs[t0*D+h*Dh:], D)
			}
		})
	}
}

// causalRows is the block of query rows attention multiplies at a time: each block stops at
// the keys its last row sees, which skips 3/8 of the scores and of the pattern·v products
// at 256 tokens (1/2 as T grows), against the cost of more, smaller products.
const causalRows = 64

// seqPoint is point for an activation held per sequence ([H, T, Tk]), skipped when no
// hook or cache wants it.
func (r *run) seqPoint(name string, s int, shape []int, data []float32) {
	if r.wants(name) {
		r.point(name, s, shape, data)
	}
}

// attnOut sets out [N, D] = z·W_O + b_O. When hook_result is wanted, each head's output
// [N, H, D] is computed, hooked, and summed instead.
func (r *run) attnOut(l int, out, z []float32) {
	c, b, pb, nm := r.m.Config, &r.m.Params.Blocks[l], &r.m.layers[l], &r.m.names[l]
	if !r.wants(nm.result) {
		tensor.MatMul(out, z, len(z)/c.DModel, pb.wo, b.AttnProjB)
		return
	}
	H, Dh, D := c.NHeads, c.DHead, c.DModel
	N := len(z) / D
	res := r.stage(nm.result, r.tmp.take(N*H*D)) // [N, H, D]
	wo := r.tmp.take(D * D)                      // [H·Dh, D] W_O unpacked, rows head-major
	for k := range D {
		pb.wo.Row(k, wo[k*D:(k+1)*D])
	}
	tensor.ParallelFor(H, func(h int) {
		// result[:, h, :] = z[:, h, :] · W_O[h] where W_O[h] = rows h·Dh.. of W_O
		tensor.Gemm(false, false, N, D, Dh, 1, z[h*Dh:], D, wo[h*Dh*D:], D, 0, res[h*D:], H*D)
	})
	r.rows(nm.result, res, H, D)
	for i := 0; i < N; i++ {
		oi := out[i*D : (i+1)*D]
		copy(oi, b.AttnProjB)
		for h := 0; h < H; h++ {
			addInPlace(oi, res[(i*H+h)*D:(i*H+h+1)*D])
		}
	}
}

// unembed computes the logits the run asked for from the final normalized stream [N, D].
func (r *run) unembed(ln []float32) {
	c, p := r.m.Config, r.m.Params
	D, V := c.DModel, c.DVocab
	S := len(r.seqs)
	switch r.o.Logits {
	case LogitsNone:
		return
	case LogitsLast:
		last := r.tmp.take(S * D) // [S, D]
		for s := range r.seqs {
			copy(last[s*D:], ln[(r.off[s+1]-1)*D:r.off[s+1]*D])
		}
		lg := r.mem.take(S * V) // [S, V]
		tensor.MatMul(lg, last, S, r.m.unembed, p.LMHeadB)
		r.res.Logits = make([][]float32, S)
		for s := range r.seqs {
			r.res.Logits[s] = lg[s*V : (s+1)*V : (s+1)*V]
		}
	default:
		N := len(ln) / D
		lg := r.mem.take(N * V) // [N, V]
		tensor.MatMul(lg, ln, N, r.m.unembed, p.LMHeadB)
		r.rows(HookLogits, lg, V)
		r.res.Logits = r.split(lg, V)
	}
}

// split cuts a token-major buffer [N, w] into per-sequence slices [T, w].
func (r *run) split(buf []float32, w int) [][]float32 {
	out := make([][]float32, len(r.seqs))
	for s := range r.seqs {
		out[s] = buf[r.off[s]*w : r.off[s+1]*w : r.off[s+1]*w]
	}
	return out
}

func addInPlace(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// Unpad turns a padded batch (Hugging Face's input_ids with attention_mask, left or right
// padding) into the ragged batch Run takes: padded positions are dropped, so they can
// never influence a real one, and positions count real tokens only.
func Unpad(ids, mask [][]int) ([][]int, error) {
	if len(mask) != len(ids) {
		return nil, fmt.Errorf("gpt2: attention mask has %d rows for %d sequences", len(mask), len(ids))
	}
	out := make([][]int, len(ids))
	for s := range ids {
		if len(mask[s]) != len(ids[s]) {
			return nil, fmt.Errorf("gpt2: attention mask row %d has %d entries for %d tokens", s, len(mask[s]), len(ids[s]))
		}
		for t, id := range ids[s] {
			if mask[s][t] != 0 {
				out[s] = append(out[s], id)
			}
		}
	}
	return out, nil
}
