package gpt2

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/internal/tensor"
)

// The training pass, llm.c style: flat token-major buffers over a ragged batch (each row
// attends only to itself), each operation's forward next to its backward. It is generic
// over the element type: float32 runs on the tensor kernels and trains; float64 is the
// reference that the gradient check compares with finite differences.
//
// Notation: N tokens in the batch, D model width, M MLP width, H heads of Dh, V vocabulary,
// R positions that carry loss.

// Float is the element type of a training pass.
type Float interface{ ~float32 | ~float64 }

// TrainRow is one sequence of a training batch with its per-position loss.
type TrainRow struct {
	IDs    []int     // [T]
	Target []int     // [T] the token each position should predict (read where Weight ≠ 0)
	Weight []float32 // [T] loss weight per position; 0 means no loss there
	// KLRef, when set, holds per position nil or a reference distribution as
	// log-probabilities [V]; where Weight ≠ 0 the loss is then Weight·KL(p ‖ exp(KLRef[t]))
	// of the model's distribution p instead of the cross-entropy (ROME's drift penalty:
	// torch's kl_div(ref, log p, log_target=True)). Target is not read there.
	KLRef [][]float32
}

// GradOptions choose what Gradients returns and how it changes the forward pass.
type GradOptions struct {
	// ActGrads lists hook points whose gradient dL/d(activation) to return, per sequence.
	// Supported: blocks.L.hook_resid_pre, attn.hook_z, hook_attn_out, hook_resid_mid,
	// mlp.hook_pre, mlp.hook_post, hook_mlp_out, hook_resid_post.
	ActGrads []string
	// Hooks edit activations in the forward pass, at the same hook points. Gradients treat
	// an edit as the addition of a constant: dL/d(activation) is that of the edited value.
	Hooks []Hook
	// NoParamGrads skips the weight gradients (for editing, which needs activations only);
	// the backward pass then stops at the lowest block it must reach.
	NoParamGrads bool
	// StartLayer and StartResid start the pass at block StartLayer's resid_pre, given per
	// row as [T, D] (the ids are then used only for their count), as RunOptions does;
	// GradResult.StartGrad is then dL/d StartResid. Blocks before StartLayer take no hooks
	// and no activation gradients.
	StartLayer int
	StartResid [][]float32
	// Prefix holds per row nil or a KV cache of positions before the row, which the row
	// attends to as constants (no gradient flows into them): when only the row's last
	// positions change between calls (ROME's δ from the subject on), the rest is computed
	// once. The cache is read at blocks from StartLayer on, never extended.
	Prefix []*KVCache
}

// GradResult is the outcome of Gradients.
type GradResult struct {
	Loss    float64   // Σ over positions of weight · cross-entropy (nats)
	RowLoss []float64 // [rows] the same sum per row
	// Grads is dL/dθ in the layout of the parameters (LMHead and LMHeadB set when the
	// parameters have them); nil with NoParamGrads.
	Grads    *Params
	ActGrads []Cache // per row: hook name → dL/d activation, shaped as the activation
	// StartGrad is dL/d StartResid per row ([T, D]) when the pass started after block 0.
	StartGrad [][]float32
}

// Gradients runs the forward and backward pass of the weighted next-token cross-entropy
// over rows. The result does not depend on the thread count.
func Gradients(cfg Config, p *Params, rows []TrainRow, o GradOptions) (*GradResult, error) {
	tp := paramsAs[float32](cfg, p, false)
	return gradients(cfg, tp, rows, o)
}

// gradients is Gradients over parameters of either precision.
func gradients[F Float](cfg Config, p *tparams[F], rows []TrainRow, o GradOptions) (*GradResult, error) {
	ps, err := newPass(cfg, p, rows, o)
	if err != nil {
		return nil, err
	}
	return ps.run(), nil
}

// run is the forward and backward pass.
func (ps *pass[F]) run() *GradResult {
	ps.forward()
	res := &GradResult{Loss: ps.loss(), RowLoss: ps.rowLoss}
	dx := ps.backward()
	if ps.g != nil {
		res.Grads = ps.g.toParams(ps.c)
	}
	res.ActGrads = ps.actOut
	if ps.start > 0 {
		D := ps.c.DModel
		res.StartGrad = make([][]float32, len(ps.rows))
		for s := range ps.rows {
			seg := dx[ps.off[s]*D : ps.off[s+1]*D]
			res.StartGrad[s] = make([]float32, len(seg))
			for i, v := range seg {
				res.StartGrad[s][i] = float32(v)
			}
		}
	}
	return res
}

// tparams mirrors Params in element type F.
type tparams[F Float] struct {
	WTE, WPE   []F
	Blocks     []tblock[F]
	LnFW, LnFB []F
	LMHead     []F // nil when tied to WTE
	LMHeadB    []F // nil when absent
}

type tblock[F Float] struct {
	Ln1W, Ln1B, AttnW, AttnB, AttnProjW, AttnProjB, Ln2W, Ln2B, FcW, FcB, ProjW, ProjB []F
	// packed, when set (float32 from a Model), replaces the four matrices.
	packed *packedLinear
}

// packedLinear is a block's matrices as the tensor kernels take them: the model's own
// packed ones for the forward pass and packed transposes for the backward pass's
// dL/d input = dL/d output · Wᵀ, so that neither unpacks nor packs anything per call.
type packedLinear struct {
	attn, attnProj, fc, proj     *tensor.Packed // [I, O]
	attnT, attnProjT, fcT, projT *tensor.Packed // [O, I]
}

// linear sets out [N, O] = in [N, I]·w + b, from p when it is set.
func linear[F Float](out, in, w []F, p *tensor.Packed, b []F, N, I, O int) {
	if p != nil {
		tensor.MatMul(any(out).([]float32), any(in).([]float32), N, p, any(b).([]float32))
		return
	}
	matmulForward(out, in, w, b, N, I, O)
}

// linearBack is matmulBackward, from the packed transpose pt when it is set (no weight
// gradients then).
func linearBack[F Float](din, dw, db, dout, in, w []F, pt *tensor.Packed, N, I, O int) {
	if pt != nil {
		tensor.MatMul(any(din).([]float32), any(dout).([]float32), N, pt, nil)
		return
	}
	matmulBackward(din, dw, db, dout, in, w, N, I, O)
}

// fields lists every tensor of t in paramTable's order.
func (t *tparams[F]) fields() []*[]F {
	var f []*[]F
	for _, sl := range slots[F](Config{}, t) {
		f = append(f, sl.dst)
	}
	return f
}

// paramsAs converts p to element type F. For float32 without copy the result shares p's
// memory.
func paramsAs[F Float](cfg Config, p *Params, copyData bool) *tparams[F] {
	t := &tparams[F]{Blocks: make([]tblock[F], len(p.Blocks))}
	src, dst := p.fields(), t.fields()
	for i := range src {
		s := *src[i]
		if s == nil {
			continue
		}
		if v, ok := any(s).([]F); ok && !copyData {
			*dst[i] = v
			continue
		}
		d := make([]F, len(s))
		for j, x := range s {
			d[j] = F(x)
		}
		*dst[i] = d
	}
	return t
}

// zerosLike returns zero tensors shaped as t.
func (t *tparams[F]) zerosLike() *tparams[F] {
	z := &tparams[F]{Blocks: make([]tblock[F], len(t.Blocks))}
	src, dst := t.fields(), z.fields()
	for i := range src {
		if *src[i] != nil {
			*dst[i] = make([]F, len(*src[i]))
		}
	}
	return z
}

// toParams converts t to float32 Params (sharing memory when F is float32).
func (t *tparams[F]) toParams(cfg Config) *Params {
	p := &Params{Blocks: make([]Block, len(t.Blocks))}
	src, dst := t.fields(), p.fields()
	for i := range src {
		s := *src[i]
		if s == nil {
			continue
		}
		if v, ok := any(s).([]float32); ok {
			*dst[i] = v
			continue
		}
		d := make([]float32, len(s))
		for j, x := range s {
			d[j] = float32(x)
		}
		*dst[i] = d
	}
	return p
}

// Hook point kinds the training pass supports, per block.
const (
	tkResidPre = iota
	tkZ
	tkAttnOut
	tkResidMid
	tkMLPPre
	tkMLPPost
	tkMLPOut
	tkResidPost
	tkCount
)

var trainHookSuffix = [tkCount]string{nameResidPre, nameZ, nameAttnOut, nameResidMid, nameMLPPre,
	nameMLPPost, nameMLPOut, nameResidPost}

// parseTrainHook splits "blocks.L.suffix" into (L, kind).
func parseTrainHook(cfg Config, name string) (int, int, error) {
	rest, ok := strings.CutPrefix(name, "blocks.")
	if ok {
		num, suffix, ok2 := strings.Cut(rest, ".")
		l, err := strconv.Atoi(num)
		if ok2 && err == nil && l >= 0 && l < cfg.NLayers {
			for k, s := range trainHookSuffix {
				if s == suffix {
					return l, k, nil
				}
			}
		}
	}
	return 0, 0, fmt.Errorf("gpt2: hook point %q is not supported by the training pass (resid_pre, attn.hook_z, attn_out, resid_mid, mlp.hook_pre, mlp.hook_post, mlp_out, resid_post of a block)", name)
}

// layerActs are the activations of one block the backward pass reads.
type layerActs[F Float] struct {
	x              []F   // [N, D] resid_pre (after hooks)
	ln1            []F   // [N, D]
	ln1Mu, ln1Rstd []F   // [N]
	qkv            []F   // [N, 3D] q | k | v, heads inside each
	att            []F   // per row s: [H, T, Tk] pattern at attOff[s], Tk = past + T
	kp, vp         [][]F // per row with a prefix: its keys and values then the row's [Tk, D]
	z              []F   // [N, D] as [N, H, Dh]
	xm             []F   // [N, D] resid_mid
	ln2            []F   // [N, D]
	ln2Mu, ln2Rstd []F   // [N]
	pre, post      []F   // [N, M]
}

// pass holds one forward and backward computation.
type pass[F Float] struct {
	c      Config
	p, g   *tparams[F] // g nil: no parameter gradients
	rows   []TrainRow
	off    []int // [S+1] first token of each row
	attOff []int // [S+1] first pattern entry of each row
	past   []int // [S] positions of each row's prefix
	N      int
	hooks  [][tkCount][]HookFunc // [L][kind]
	want   [][tkCount]bool       // [L][kind] activation gradient asked for
	actOut []Cache
	// start is the first block run, bottom the lowest one the backward pass reaches.
	start, bottom int
	startResid    [][]float32
	prefix        []*KVCache
	// src, when set, supplies the weights instead of p's matrices (a packed Model).
	src blockSource[F]

	acts           []layerActs[F]
	xf             []F // [N, D] final residual stream
	lnf            []F // [N, D]
	lnfMu, lnfRstd []F // [N]
	lossPos        []int
	lossRow        []int
	probs          []F // [R, V] softmax of the logits at loss positions
	rowLoss        []float64
}

func newPass[F Float](cfg Config, p *tparams[F], rows []TrainRow, o GradOptions) (*pass[F], error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("gpt2: no rows to train on")
	}
	if o.StartLayer < 0 || o.StartLayer > cfg.NLayers {
		return nil, fmt.Errorf("gpt2: start layer %d outside [0, %d]", o.StartLayer, cfg.NLayers)
	}
	if o.StartLayer > 0 && len(o.StartResid) != len(rows) {
		return nil, fmt.Errorf("gpt2: start layer %d needs a residual stream for each of %d rows", o.StartLayer, len(rows))
	}
	if o.Prefix != nil && len(o.Prefix) != len(rows) {
		return nil, fmt.Errorf("gpt2: %d prefix caches for %d rows", len(o.Prefix), len(rows))
	}
	ps := &pass[F]{c: cfg, p: p, rows: rows, off: make([]int, len(rows)+1), attOff: make([]int, len(rows)+1),
		past: make([]int, len(rows)), start: o.StartLayer, startResid: o.StartResid, prefix: o.Prefix}
	for s, r := range rows {
		T := len(r.IDs)
		if T == 0 {
			return nil, fmt.Errorf("gpt2: row %d is empty", s)
		}
		if o.Prefix != nil && o.Prefix[s] != nil {
			kv := o.Prefix[s]
			ps.past[s] = kv.Len()
			for l := o.StartLayer; l < cfg.NLayers; l++ {
				if len(kv.k[l]) < kv.Len()*cfg.DModel {
					return nil, fmt.Errorf("gpt2: the prefix of row %d has no keys at block %d", s, l)
				}
			}
		}
		if ps.past[s]+T > cfg.NCtx {
			return nil, fmt.Errorf("gpt2: row %d has %d tokens, more than the context of %d", s, ps.past[s]+T, cfg.NCtx)
		}
		if len(r.Target) != T || len(r.Weight) != T {
			return nil, fmt.Errorf("gpt2: row %d has %d tokens, %d targets and %d weights", s, T, len(r.Target), len(r.Weight))
		}
		if r.KLRef != nil && len(r.KLRef) != T {
			return nil, fmt.Errorf("gpt2: row %d has %d tokens and %d KL references", s, T, len(r.KLRef))
		}
		if o.StartLayer > 0 && len(o.StartResid[s]) != T*cfg.DModel {
			return nil, fmt.Errorf("gpt2: start residual of row %d has %d values, want %d×%d", s, len(o.StartResid[s]), T, cfg.DModel)
		}
		for t, id := range r.IDs {
			if id < 0 || id >= cfg.DVocab {
				return nil, fmt.Errorf("gpt2: row %d position %d: token id %d outside the vocabulary [0, %d)", s, t, id, cfg.DVocab)
			}
			if r.Weight[t] != 0 {
				if r.KLRef != nil && r.KLRef[t] != nil {
					if len(r.KLRef[t]) != cfg.DVocab {
						return nil, fmt.Errorf("gpt2: row %d position %d: KL reference of %d values, want %d", s, t, len(r.KLRef[t]), cfg.DVocab)
					}
				} else if tg := r.Target[t]; tg < 0 || tg >= cfg.DVocab {
					return nil, fmt.Errorf("gpt2: row %d position %d: target %d outside the vocabulary [0, %d)", s, t, tg, cfg.DVocab)
				}
				ps.lossPos = append(ps.lossPos, ps.off[s]+t)
				ps.lossRow = append(ps.lossRow, s)
			}
		}
		ps.off[s+1] = ps.off[s] + T
		ps.attOff[s+1] = ps.attOff[s] + cfg.NHeads*T*(ps.past[s]+T)
	}
	ps.N = ps.off[len(rows)]
	ps.hooks = make([][tkCount][]HookFunc, cfg.NLayers)
	ps.want = make([][tkCount]bool, cfg.NLayers)
	for _, h := range o.Hooks {
		l, k, err := parseTrainHook(cfg, h.Name)
		if err != nil {
			return nil, err
		}
		if l < o.StartLayer {
			return nil, fmt.Errorf("gpt2: hook %s is before the start layer %d", h.Name, o.StartLayer)
		}
		ps.hooks[l][k] = append(ps.hooks[l][k], h.Fn)
	}
	ps.bottom = o.StartLayer
	lowest := cfg.NLayers
	for _, n := range o.ActGrads {
		l, k, err := parseTrainHook(cfg, n)
		if err != nil {
			return nil, err
		}
		if l < o.StartLayer {
			return nil, fmt.Errorf("gpt2: activation gradient %s is before the start layer %d", n, o.StartLayer)
		}
		ps.want[l][k] = true
		lowest = min(lowest, l)
	}
	if o.NoParamGrads && o.StartLayer == 0 {
		ps.bottom = lowest
	}
	if len(o.ActGrads) > 0 {
		ps.actOut = make([]Cache, len(rows))
		for s := range ps.actOut {
			ps.actOut[s] = Cache{}
		}
	}
	if !o.NoParamGrads {
		ps.g = p.zerosLike()
	}
	return ps, nil
}

// hook runs the forward hooks of (l, kind) on a token-major buffer [N, inner...].
func (ps *pass[F]) hook(l, kind int, buf []F, inner ...int) {
	fns := ps.hooks[l][kind]
	if len(fns) == 0 {
		return
	}
	w := len(buf) / ps.N
	for s := range ps.rows {
		T := ps.off[s+1] - ps.off[s]
		seg := buf[ps.off[s]*w : ps.off[s+1]*w]
		data, isF32 := any(seg).([]float32)
		if !isF32 {
			data = make([]float32, len(seg))
			for i, v := range seg {
				data[i] = float32(v)
			}
		}
		for _, f := range fns {
			f(Activation{Name: BlockHook(l, trainHookSuffix[kind]), Seq: s, Shape: append([]int{T}, inner...), Data: data})
		}
		if !isF32 {
			for i, v := range data {
				seg[i] = F(v)
			}
		}
	}
}

// keepGrad records dL/d(activation) of (l, kind) when asked for.
func (ps *pass[F]) keepGrad(l, kind int, grad []F, inner ...int) {
	if !ps.want[l][kind] {
		return
	}
	w := len(grad) / ps.N
	name := BlockHook(l, trainHookSuffix[kind])
	for s := range ps.rows {
		seg := grad[ps.off[s]*w : ps.off[s+1]*w]
		d := make([]float32, len(seg))
		for i, v := range seg {
			d[i] = float32(v)
		}
		ps.actOut[s][name] = Tensor{Shape: append([]int{ps.off[s+1] - ps.off[s]}, inner...), Data: d}
	}
}

func (ps *pass[F]) forward() {
	c, p := ps.c, ps.p
	N, D, M := ps.N, c.DModel, c.DMLP
	x := make([]F, N*D) // [N, D] residual stream
	if ps.start == 0 {
		ps.embedForward(x)
	} else {
		for s, r := range ps.startResid {
			for i, v := range r {
				x[ps.off[s]*D+i] = F(v)
			}
		}
	}
	ps.acts = make([]layerActs[F], c.NLayers)
	out := make([]F, N*D) // [N, D] attn_out, then mlp_out
	for l := ps.start; l < c.NLayers; l++ {
		b, a := ps.block(l, false), &ps.acts[l]
		ps.hook(l, tkResidPre, x, D)
		a.x = x
		a.ln1, a.ln1Mu, a.ln1Rstd = make([]F, N*D), make([]F, N), make([]F, N)
		layerNormForward(a.ln1, a.ln1Mu, a.ln1Rstd, x, b.Ln1W, b.Ln1B, c.LNEps)
		a.qkv = make([]F, N*3*D)
		pk := b.packed
		if pk == nil {
			pk = &packedLinear{}
		}
		linear(a.qkv, a.ln1, b.AttnW, pk.attn, b.AttnB, N, D, 3*D)
		a.att, a.z = make([]F, ps.attOff[len(ps.rows)]), make([]F, N*D)
		ps.attentionForward(l, a)
		ps.hook(l, tkZ, a.z, c.NHeads, c.DHead)
		linear(out, a.z, b.AttnProjW, pk.attnProj, b.AttnProjB, N, D, D)
		ps.hook(l, tkAttnOut, out, D)
		a.xm = make([]F, N*D)
		for i := range a.xm {
			a.xm[i] = x[i] + out[i]
		}
		ps.hook(l, tkResidMid, a.xm, D)
		a.ln2, a.ln2Mu, a.ln2Rstd = make([]F, N*D), make([]F, N), make([]F, N)
		layerNormForward(a.ln2, a.ln2Mu, a.ln2Rstd, a.xm, b.Ln2W, b.Ln2B, c.LNEps)
		a.pre, a.post = make([]F, N*M), make([]F, N*M)
		linear(a.pre, a.ln2, b.FcW, pk.fc, b.FcB, N, D, M)
		ps.hook(l, tkMLPPre, a.pre, M)
		geluForward(a.post, a.pre, c.Activation)
		ps.hook(l, tkMLPPost, a.post, M)
		linear(out, a.post, b.ProjW, pk.proj, b.ProjB, N, M, D)
		ps.hook(l, tkMLPOut, out, D)
		x = make([]F, N*D)
		for i := range x {
			x[i] = a.xm[i] + out[i]
		}
		ps.hook(l, tkResidPost, x, D)
	}
	ps.xf = x
	ps.lnf, ps.lnfMu, ps.lnfRstd = make([]F, N*D), make([]F, N), make([]F, N)
	layerNormForward(ps.lnf, ps.lnfMu, ps.lnfRstd, x, p.LnFW, p.LnFB, c.LNEps)
	ps.lossForward()
}

// backward returns dL/d resid_pre of the lowest block it reaches.
func (ps *pass[F]) backward() []F {
	c, p, g := ps.c, ps.p, ps.g
	N, D, M := ps.N, c.DModel, c.DMLP
	dlnf := ps.lossBackward()
	dx := make([]F, N*D) // [N, D] dL/d residual stream
	var gw, gb []F
	if g != nil {
		gw, gb = g.LnFW, g.LnFB
	}
	layerNormBackward(dx, gw, gb, dlnf, ps.xf, ps.lnfMu, ps.lnfRstd, p.LnFW)
	dln := make([]F, N*D)   // [N, D]
	dpost := make([]F, N*M) // [N, M]
	dpre := make([]F, N*M)  // [N, M]
	dz := make([]F, N*D)    // [N, D]
	dqkv := make([]F, N*3*D)
	for l := c.NLayers - 1; l >= ps.bottom; l-- {
		b, a := ps.block(l, true), &ps.acts[l]
		pk := b.packed
		if pk == nil {
			pk = &packedLinear{}
		}
		var gbk *tblock[F]
		if g != nil {
			gbk = &g.Blocks[l]
		}
		pick := func(f func(*tblock[F]) []F) []F {
			if gbk == nil {
				return nil
			}
			return f(gbk)
		}
		ps.keepGrad(l, tkResidPost, dx, D)
		// MLP: dx flows unchanged into the residual and into mlp_out.
		ps.keepGrad(l, tkMLPOut, dx, D)
		linearBack(dpost, pick(func(b *tblock[F]) []F { return b.ProjW }), pick(func(b *tblock[F]) []F { return b.ProjB }), dx, a.post, b.ProjW, pk.projT, N, M, D)
		ps.keepGrad(l, tkMLPPost, dpost, M)
		geluBackward(dpre, dpost, a.pre, c.Activation)
		ps.keepGrad(l, tkMLPPre, dpre, M)
		linearBack(dln, pick(func(b *tblock[F]) []F { return b.FcW }), pick(func(b *tblock[F]) []F { return b.FcB }), dpre, a.ln2, b.FcW, pk.fcT, N, D, M)
		layerNormBackward(dx, pick(func(b *tblock[F]) []F { return b.Ln2W }), pick(func(b *tblock[F]) []F { return b.Ln2B }), dln, a.xm, a.ln2Mu, a.ln2Rstd, b.Ln2W)
		ps.keepGrad(l, tkResidMid, dx, D)
		// Attention.
		ps.keepGrad(l, tkAttnOut, dx, D)
		linearBack(dz, pick(func(b *tblock[F]) []F { return b.AttnProjW }), pick(func(b *tblock[F]) []F { return b.AttnProjB }), dx, a.z, b.AttnProjW, pk.attnProjT, N, D, D)
		ps.keepGrad(l, tkZ, dz, c.NHeads, c.DHead)
		ps.attentionBackward(dqkv, dz, a)
		linearBack(dln, pick(func(b *tblock[F]) []F { return b.AttnW }), pick(func(b *tblock[F]) []F { return b.AttnB }), dqkv, a.ln1, b.AttnW, pk.attnT, N, D, 3*D)
		layerNormBackward(dx, pick(func(b *tblock[F]) []F { return b.Ln1W }), pick(func(b *tblock[F]) []F { return b.Ln1B }), dln, a.x, a.ln1Mu, a.ln1Rstd, b.Ln1W)
		ps.keepGrad(l, tkResidPre, dx, D)
	}
	if ps.bottom == 0 {
		ps.embedBackward(dx)
	}
	return dx
}

// embedForward sets x [N, D] = wte[id] + wpe[t].
func (ps *pass[F]) embedForward(x []F) {
	D := ps.c.DModel
	for s, r := range ps.rows {
		for t, id := range r.IDs {
			xi := x[(ps.off[s]+t)*D : (ps.off[s]+t+1)*D]
			pos := ps.past[s] + t
			e, pe := ps.embedRow(id), ps.p.WPE[pos*D:(pos+1)*D]
			for j := range xi {
				xi[j] = e[j] + pe[j]
			}
		}
	}
}

// embedBackward accumulates dx [N, D] into the embedding gradients, in token order.
func (ps *pass[F]) embedBackward(dx []F) {
	if ps.g == nil {
		return
	}
	D := ps.c.DModel
	for s, r := range ps.rows {
		for t, id := range r.IDs {
			d := dx[(ps.off[s]+t)*D : (ps.off[s]+t+1)*D]
			addTo(ps.g.WTE[id*D:(id+1)*D], d)
			addTo(ps.g.WPE[(ps.past[s]+t)*D:(ps.past[s]+t+1)*D], d)
		}
	}
}

// lossForward computes, at each loss position, probs [R, V] = softmax(lnf·W_Uᵀ + b_U) and
// the weighted cross-entropy per row.
func (ps *pass[F]) lossForward() {
	c, p := ps.c, ps.p
	D, V, R := c.DModel, c.DVocab, len(ps.lossPos)
	ps.rowLoss = make([]float64, len(ps.rows))
	if R == 0 {
		return
	}
	h := make([]F, R*D) // [R, D]
	for i, n := range ps.lossPos {
		copy(h[i*D:(i+1)*D], ps.lnf[n*D:(n+1)*D])
	}
	ps.probs = make([]F, R*V)
	ps.unembed(h, R)
	tensor.ParallelFor(R, func(i int) {
		lg := ps.probs[i*V : (i+1)*V]
		if p.LMHeadB != nil {
			addTo(lg, p.LMHeadB)
		}
		softmaxRow(lg)
	})
	for i, n := range ps.lossPos {
		s := ps.lossRow[i]
		t := n - ps.off[s]
		w := float64(ps.rows[s].Weight[t])
		if ref := ps.klRef(s, t); ref != nil {
			ps.rowLoss[s] += w * klDiv(ps.probs[i*V:(i+1)*V], ref)
			continue
		}
		pr := float64(ps.probs[i*V+ps.rows[s].Target[t]])
		ps.rowLoss[s] += w * -math.Log(max(pr, 1e-300))
	}
}

// klRef is row s's KL reference at position t, nil when that position has a target.
func (ps *pass[F]) klRef(s, t int) []float32 {
	if r := ps.rows[s].KLRef; r != nil {
		return r[t]
	}
	return nil
}

// klDiv is KL(p ‖ q) = Σ p (log p − ref) with ref = log q.
func klDiv[F Float](p []F, ref []float32) float64 {
	var kl float64
	for j, pv := range p {
		if pv > 0 {
			kl += float64(pv) * (math.Log(float64(pv)) - float64(ref[j]))
		}
	}
	return kl
}

// klBackward replaces p [V] with w·dKL(p ‖ q)/dlogits = w·p⊙(g − Σ p g), g = log p − ref.
func klBackward[F Float](p []F, ref []float32, w F) {
	var mean float64
	for j, pv := range p {
		if pv > 0 {
			mean += float64(pv) * (math.Log(float64(pv)) - float64(ref[j]))
		}
	}
	for j, pv := range p {
		if pv > 0 {
			p[j] = w * F(float64(pv)*(math.Log(float64(pv))-float64(ref[j])-mean))
		}
	}
}

func (ps *pass[F]) loss() float64 {
	var l float64
	for _, v := range ps.rowLoss {
		l += v
	}
	return l
}

// lossBackward returns dL/d lnf [N, D] and accumulates the unembedding's gradients.
func (ps *pass[F]) lossBackward() []F {
	c, p, g := ps.c, ps.p, ps.g
	N, D, V, R := ps.N, c.DModel, c.DVocab, len(ps.lossPos)
	dlnf := make([]F, N*D)
	if R == 0 {
		return dlnf
	}
	// dlogits = w·(probs − onehot(target)), in place in probs.
	dlg := ps.probs
	for i, n := range ps.lossPos {
		s := ps.lossRow[i]
		t := n - ps.off[s]
		w := F(ps.rows[s].Weight[t])
		row := dlg[i*V : (i+1)*V]
		if ref := ps.klRef(s, t); ref != nil {
			klBackward(row, ref, w)
			continue
		}
		row[ps.rows[s].Target[t]] -= 1
		for j := range row {
			row[j] *= w
		}
	}
	dh := make([]F, R*D) // [R, D]
	ps.unembedBack(dh, dlg, R)
	for i, n := range ps.lossPos {
		copy(dlnf[n*D:(n+1)*D], dh[i*D:(i+1)*D])
	}
	if g != nil {
		h := make([]F, R*D)
		for i, n := range ps.lossPos {
			copy(h[i*D:(i+1)*D], ps.lnf[n*D:(n+1)*D])
		}
		dU := g.WTE
		if p.LMHead != nil {
			dU = g.LMHead
		}
		gemm(true, false, V, D, R, 1, dlg, V, h, D, 1, dU, D)
		if g.LMHeadB != nil {
			colSums(g.LMHeadB, dlg, R, V)
		}
	}
	return dlnf
}

// attentionForward fills a.att and a.z from a.qkv, each row and head on its own: scores =
// q·kᵀ/√Dh causally masked, pattern = softmax(scores), z = pattern·v; a row with a
// prefix attends to the prefix's keys and values first.
func (ps *pass[F]) attentionForward(l int, a *layerActs[F]) {
	c := ps.c
	H, Dh, D := c.NHeads, c.DHead, c.DModel
	alpha := F(1 / math.Sqrt(float64(Dh)))
	if ps.prefix != nil {
		a.kp, a.vp = make([][]F, len(ps.rows)), make([][]F, len(ps.rows))
		for s, past := range ps.past {
			if past == 0 {
				continue
			}
			kv, o0, T := ps.prefix[s], ps.off[s], ps.off[s+1]-ps.off[s]
			a.kp[s], a.vp[s] = make([]F, (past+T)*D), make([]F, (past+T)*D)
			for i, v := range kv.k[l][:past*D] {
				a.kp[s][i] = F(v)
			}
			for i, v := range kv.v[l][:past*D] {
				a.vp[s][i] = F(v)
			}
			for t := range T {
				row := a.qkv[(o0+t)*3*D:]
				copy(a.kp[s][(past+t)*D:(past+t+1)*D], row[D:2*D])
				copy(a.vp[s][(past+t)*D:(past+t+1)*D], row[2*D:3*D])
			}
		}
	}
	tensor.ParallelFor(len(ps.rows)*H, func(job int) {
		s, h := job/H, job%H
		o0, T, past := ps.off[s], ps.off[s+1]-ps.off[s], ps.past[s]
		Tk := past + T
		q := a.qkv[o0*3*D+h*Dh:]
		k, v, ld := ps.keys(a, s, h)
		P := a.att[ps.attOff[s]+h*T*Tk : ps.attOff[s]+(h+1)*T*Tk] // [T, Tk]
		gemm(false, true, T, Tk, Dh, alpha, q, 3*D, k, ld, 0, P, Tk)
		for t := 0; t < T; t++ {
			row := P[t*Tk : (t+1)*Tk]
			softmaxRow(row[:past+t+1])
			clear(row[past+t+1:])
		}
		gemm(false, false, T, Dh, Tk, 1, P, Tk, v, ld, 0, a.z[o0*D+h*Dh:], D)
	})
}

// keys returns row s's keys and values of head h [Tk, Dh] and their row stride.
func (ps *pass[F]) keys(a *layerActs[F], s, h int) (k, v []F, ld int) {
	D, Dh := ps.c.DModel, ps.c.DHead
	if ps.past[s] > 0 {
		return a.kp[s][h*Dh:], a.vp[s][h*Dh:], D
	}
	o0 := ps.off[s]
	return a.qkv[o0*3*D+D+h*Dh:], a.qkv[o0*3*D+2*D+h*Dh:], 3 * D
}

// attentionBackward sets dqkv [N, 3D] from dz [N, D] and the saved pattern (nothing flows
// into a prefix).
func (ps *pass[F]) attentionBackward(dqkv, dz []F, a *layerActs[F]) {
	c := ps.c
	H, Dh, D := c.NHeads, c.DHead, c.DModel
	alpha := F(1 / math.Sqrt(float64(Dh)))
	tensor.ParallelFor(len(ps.rows)*H, func(job int) {
		s, h := job/H, job%H
		o0, T, past := ps.off[s], ps.off[s+1]-ps.off[s], ps.past[s]
		Tk := past + T
		q := a.qkv[o0*3*D+h*Dh:]
		k, v, ld := ps.keys(a, s, h)
		dq := dqkv[o0*3*D+h*Dh:]
		dk := dqkv[o0*3*D+D+h*Dh:]
		dv := dqkv[o0*3*D+2*D+h*Dh:]
		dzh := dz[o0*D+h*Dh:]
		P := a.att[ps.attOff[s]+h*T*Tk : ps.attOff[s]+(h+1)*T*Tk] // [T, Tk]
		dS := make([]F, T*Tk)                                     // [T, Tk] dP, then dScores
		gemm(false, true, T, Tk, Dh, 1, dzh, D, v, ld, 0, dS, Tk)
		gemm(true, false, T, Dh, T, 1, P[past:], Tk, dzh, D, 0, dv, 3*D)
		for t := 0; t < T; t++ {
			pr, dr := P[t*Tk:t*Tk+past+t+1], dS[t*Tk:(t+1)*Tk]
			var dot float64
			for j, pv := range pr {
				dot += float64(pv) * float64(dr[j])
			}
			for j, pv := range pr {
				dr[j] = pv * (dr[j] - F(dot))
			}
			clear(dr[past+t+1:])
		}
		gemm(false, false, T, Dh, Tk, alpha, dS, Tk, k, ld, 0, dq, 3*D)
		gemm(true, false, T, Dh, T, alpha, dS[past:], Tk, q, 3*D, 0, dk, 3*D)
	})
}

// matmulForward sets out [N, O] = in [N, I]·w [I, O] + b [O].
func matmulForward[F Float](out, in, w, b []F, N, I, O int) {
	gemm(false, false, N, O, I, 1, in, I, w, O, 0, out, O)
	if b != nil {
		for n := 0; n < N; n++ {
			addTo(out[n*O:(n+1)*O], b)
		}
	}
}

// matmulBackward sets din [N, I] = dout·wᵀ and accumulates dw [I, O] += inᵀ·dout and
// db [O] += Σ_n dout (each skipped when nil).
func matmulBackward[F Float](din, dw, db, dout, in, w []F, N, I, O int) {
	gemm(false, true, N, I, O, 1, dout, O, w, O, 0, din, I)
	if dw != nil {
		gemm(true, false, I, O, N, 1, in, I, dout, O, 1, dw, O)
	}
	if db != nil {
		colSums(db, dout, N, O)
	}
}

// colSums accumulates dst [O] += Σ_n m[n, :] in row order (deterministic).
func colSums[F Float](dst, m []F, N, O int) {
	for n := 0; n < N; n++ {
		addTo(dst, m[n*O:(n+1)*O])
	}
}

// layerNormForward sets out [N, D] = (x − µ)·rstd·w + b per row and keeps µ, rstd [N];
// statistics in float64.
func layerNormForward[F Float](out, mu, rstd, x, w, b []F, eps float32) {
	D := len(w)
	for i := range mu {
		xi, oi := x[i*D:(i+1)*D], out[i*D:(i+1)*D]
		var sum float64
		for _, v := range xi {
			sum += float64(v)
		}
		m := sum / float64(D)
		var ss float64
		for _, v := range xi {
			d := float64(v) - m
			ss += d * d
		}
		r := 1 / math.Sqrt(ss/float64(D)+float64(eps))
		mu[i], rstd[i] = F(m), F(r)
		for j, v := range xi {
			oi[j] = F((float64(v)-m)*r)*w[j] + b[j]
		}
	}
}

// layerNormBackward adds to dx [N, D] the gradient through the layer norm of x, and
// accumulates dw, db [D] (when not nil), given dout [N, D]:
// dx += rstd·(dn − mean(dn) − n·mean(dn·n)) with n the normalized input and dn = dout·w.
func layerNormBackward[F Float](dx, dw, db, dout, x, mu, rstd, w []F) {
	D := len(w)
	for i := range mu {
		xi, di, dxi := x[i*D:(i+1)*D], dout[i*D:(i+1)*D], dx[i*D:(i+1)*D]
		m, r := float64(mu[i]), float64(rstd[i])
		var sdn, sdnn float64
		for j, v := range xi {
			n := (float64(v) - m) * r
			dn := float64(di[j]) * float64(w[j])
			sdn += dn
			sdnn += dn * n
		}
		sdn /= float64(D)
		sdnn /= float64(D)
		for j, v := range xi {
			n := (float64(v) - m) * r
			dn := float64(di[j]) * float64(w[j])
			dxi[j] += F(r * (dn - sdn - n*sdnn))
			if dw != nil {
				dw[j] += di[j] * F(n)
				db[j] += di[j]
			}
		}
	}
}

const geluC = 0.7978845608028654 // √(2/π)

// geluForward sets out = gelu(in).
func geluForward[F Float](out, in []F, act string) {
	if o32, ok := any(out).([]float32); ok {
		if act == "gelu" {
			tensor.GeluErf(o32, any(in).([]float32))
		} else {
			tensor.GeluTanh(o32, any(in).([]float32))
		}
		return
	}
	for i, v := range in {
		x := float64(v)
		if act == "gelu" {
			out[i] = F(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
		} else {
			out[i] = F(0.5 * x * (1 + math.Tanh(geluC*(x+0.044715*x*x*x))))
		}
	}
}

// geluBackward sets din = dout·gelu'(in).
func geluBackward[F Float](din, dout, in []F, act string) {
	const chunk = 4096
	tensor.ParallelFor((len(in)+chunk-1)/chunk, func(ci int) {
		lo, hi := ci*chunk, min((ci+1)*chunk, len(in))
		for i := lo; i < hi; i++ {
			x := float64(in[i])
			var d float64
			if act == "gelu" {
				d = 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
			} else {
				th := math.Tanh(geluC * (x + 0.044715*x*x*x))
				d = 0.5*(1+th) + 0.5*x*(1-th*th)*geluC*(1+3*0.044715*x*x)
			}
			din[i] = dout[i] * F(d)
		}
	})
}

// softmaxRow replaces x with softmax(x); sums in float64.
func softmaxRow[F Float](x []F) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		x[i] = F(e)
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] = F(float64(x[i]) * inv)
	}
}

func addTo[F Float](dst, src []F) {
	for i, v := range src {
		dst[i] += v
	}
}

// gemm is tensor.Gemm for float32 and a plain float64 loop otherwise (the reference).
func gemm[F Float](transA, transB bool, M, N, K int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if a32, ok := any(a).([]float32); ok {
		tensor.Gemm(transA, transB, M, N, K, float32(alpha), a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s F
			for k := 0; k < K; k++ {
				var av, bv F
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
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
