package gpt2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/mechlens/mechlens/internal/tensor"
)

// Params holds a model's weights as Hugging Face stores them. Conv1D weights are [in, out],
// so row i of ProjW is MLP neuron i's value vector and row t of the unembedding is token t's
// direction in the residual stream.
type Params struct {
	WTE    []float32 // [V, D]  wte.weight
	WPE    []float32 // [C, D]  wpe.weight
	Blocks []Block
	LnFW   []float32 // [D]     ln_f.weight
	LnFB   []float32 // [D]     ln_f.bias
	// LMHead is the unembedding when it is not tied to WTE ([V, D], lm_head.weight); nil
	// when tied. Weight processing always unties it.
	LMHead []float32
	// LMHeadB is the unembedding bias b_U ([V]); nil in Hugging Face checkpoints, set by
	// fold_ln (ln_f.bias · W_U).
	LMHeadB []float32
}

// Block is one layer's weights.
type Block struct {
	Ln1W, Ln1B []float32 // [D]     h.{l}.ln_1.weight, .bias
	AttnW      []float32 // [D, 3D] h.{l}.attn.c_attn.weight; columns q | k | v, each H×Dh
	AttnB      []float32 // [3D]    h.{l}.attn.c_attn.bias
	AttnProjW  []float32 // [D, D]  h.{l}.attn.c_proj.weight (W_O, rows are head-major H×Dh)
	AttnProjB  []float32 // [D]     h.{l}.attn.c_proj.bias
	Ln2W, Ln2B []float32 // [D]     h.{l}.ln_2.weight, .bias
	FcW        []float32 // [D, M]  h.{l}.mlp.c_fc.weight (W_in)
	FcB        []float32 // [M]     h.{l}.mlp.c_fc.bias
	ProjW      []float32 // [M, D]  h.{l}.mlp.c_proj.weight (W_out; row i = value vector i)
	ProjB      []float32 // [D]     h.{l}.mlp.c_proj.bias
}

// Unembed returns W_U as rows [V, D] (row t = W_U[:, t]).
func (p *Params) Unembed() []float32 {
	if p.LMHead != nil {
		return p.LMHead
	}
	return p.WTE
}

// tensorSpec names one tensor of a checkpoint, its shape and where it lives in Params.
type tensorSpec struct {
	name  string
	shape []int
	dst   *[]float32
}

// paramEntry is one row of paramTable: a tensor's Hugging Face name (block-relative inside
// a block), the field of Params or Block that holds it, and its shape.
type paramEntry struct {
	name, field string
	shape       func(c Config) []int
	optional    bool // lm_head.weight (only when untied) and lm_head.bias (only when processed)
}

// paramTable and blockTable are the one ordered list of a model's tensors, in the order
// Hugging Face writes them: every list of parameters (checkpoint specs, the float32 and
// training views, Named, Clone, the weights hash) derives from it.
var (
	dim = func(f func(c Config) int) func(c Config) []int { return func(c Config) []int { return []int{f(c)} } }
	mat = func(r, k func(c Config) int) func(c Config) []int {
		return func(c Config) []int { return []int{r(c), k(c)} }
	}
	d          = func(c Config) int { return c.DModel }
	d3         = func(c Config) int { return 3 * c.DModel }
	dm         = func(c Config) int { return c.DMLP }
	v          = func(c Config) int { return c.DVocab }
	ctx        = func(c Config) int { return c.NCtx }
	blockTable = []paramEntry{
		{"ln_1.weight", "Ln1W", dim(d), false}, {"ln_1.bias", "Ln1B", dim(d), false},
		{"attn.c_attn.weight", "AttnW", mat(d, d3), false}, {"attn.c_attn.bias", "AttnB", dim(d3), false},
		{"attn.c_proj.weight", "AttnProjW", mat(d, d), false}, {"attn.c_proj.bias", "AttnProjB", dim(d), false},
		{"ln_2.weight", "Ln2W", dim(d), false}, {"ln_2.bias", "Ln2B", dim(d), false},
		{"mlp.c_fc.weight", "FcW", mat(d, dm), false}, {"mlp.c_fc.bias", "FcB", dim(dm), false},
		{"mlp.c_proj.weight", "ProjW", mat(dm, d), false}, {"mlp.c_proj.bias", "ProjB", dim(d), false},
	}
	headTable = []paramEntry{{"wte.weight", "WTE", mat(v, d), false}, {"wpe.weight", "WPE", mat(ctx, d), false}}
	tailTable = []paramEntry{
		{"ln_f.weight", "LnFW", dim(d), false}, {"ln_f.bias", "LnFB", dim(d), false},
		{"lm_head.weight", "LMHead", mat(v, d), true}, {"lm_head.bias", "LMHeadB", dim(v), true},
	}
)

// slot is one tensor of a parameter set of element type F: its entry and where it lives.
type slot[F any] struct {
	name  string
	shape []int
	dst   *[]F
	opt   bool
}

// slots lists every tensor of p (a *Params or *tparams[F]) in paramTable's order.
func slots[F any](c Config, p any) []slot[F] {
	pv := reflect.ValueOf(p).Elem()
	at := func(v reflect.Value, e paramEntry, prefix string) slot[F] {
		return slot[F]{prefix + e.name, e.shape(c), v.FieldByName(e.field).Addr().Interface().(*[]F), e.optional}
	}
	var out []slot[F]
	for _, e := range headTable {
		out = append(out, at(pv, e, ""))
	}
	blocks := pv.FieldByName("Blocks")
	for l := range blocks.Len() {
		for _, e := range blockTable {
			out = append(out, at(blocks.Index(l), e, fmt.Sprintf("h.%d.", l)))
		}
	}
	for _, e := range tailTable {
		out = append(out, at(pv, e, ""))
	}
	return out
}

// specs lists every tensor of a Hugging Face GPT-2 checkpoint (without the optional
// "transformer." prefix and without the optional lm_head tensors), in the order Hugging
// Face writes them.
func (p *Params) specs(c Config) []tensorSpec {
	var s []tensorSpec
	for _, sl := range slots[float32](c, p) {
		if !sl.opt {
			s = append(s, tensorSpec{sl.name, sl.shape, sl.dst})
		}
	}
	return s
}

// fields lists every tensor slot of p, optional ones included, in paramTable's order.
func (p *Params) fields() []*[]float32 {
	var f []*[]float32
	for _, sl := range slots[float32](Config{}, p) {
		f = append(f, sl.dst)
	}
	return f
}

// TensorSource is what a checkpoint reader offers: names, shapes and float32 data.
type TensorSource interface {
	Names() []string
	Shape(name string) ([]int, bool)
	Float32(name string) ([]float32, error)
}

// evicter is a TensorSource whose tensors are views of a mapped file: Drop gives a view's
// pages back (reading it again reads the file).
type evicter interface {
	Drop(x []float32)
}

// LoadParams reads every tensor of cfg from src, accepting names with or without the
// "transformer." prefix and ignoring the attention-mask buffers. Missing, unexpected and
// mis-shaped tensors are all listed in one error. The pages of a mapped tensor are given
// back once checked, so that checking a file does not make it resident whole.
func LoadParams(cfg Config, src TensorSource) (*Params, error) {
	p := &Params{Blocks: make([]Block, cfg.NLayers)}
	byName := map[string]string{} // name without prefix → name in file
	var unexpected []string
	for _, n := range src.Names() {
		short := strings.TrimPrefix(n, "transformer.")
		if strings.HasSuffix(short, ".attn.bias") || strings.HasSuffix(short, ".attn.masked_bias") {
			continue
		}
		byName[short] = n
	}
	var missing, problems []string
	specs := append(p.specs(cfg), tensorSpec{"lm_head.weight", []int{cfg.DVocab, cfg.DModel}, &p.LMHead})
	known := map[string]bool{}
	for _, s := range specs {
		known[s.name] = true
		file, ok := byName[s.name]
		if !ok {
			if s.name != "lm_head.weight" {
				missing = append(missing, s.name)
			}
			continue
		}
		shape, _ := src.Shape(file)
		if !slices.Equal(shape, s.shape) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", file, shape, s.shape))
			continue
		}
		data, err := src.Float32(file)
		if err != nil {
			return nil, err
		}
		if i := nonFinite(data); i >= 0 {
			// A NaN or Inf weight gives NaN logits and exit 0 far from its cause.
			problems = append(problems, fmt.Sprintf("%s holds %v at index %d", file, data[i], i))
			continue
		}
		if e, ok := src.(evicter); ok {
			e.Drop(data)
		}
		*s.dst = data
	}
	for short, file := range byName {
		if !known[short] {
			unexpected = append(unexpected, file)
		}
	}
	sort.Strings(unexpected)
	if len(missing) > 0 {
		problems = append(problems, "missing "+fewOf(missing))
	}
	if len(unexpected) > 0 {
		problems = append(problems, "unexpected "+fewOf(unexpected))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	if p.LMHead != nil && slices.Equal(p.LMHead, p.WTE) {
		p.LMHead = nil
	}
	return p, nil
}

// nonFinite returns the index of the first NaN or ±Inf in x, or -1.
func nonFinite(x []float32) int {
	for i, v := range x {
		if v-v != 0 { // NaN - NaN and Inf - Inf are NaN
			return i
		}
	}
	return -1
}

// fewOf lists the first names and counts the rest: a checkpoint of another architecture
// misses hundreds of tensors, and a message that long is not read.
func fewOf(names []string) string {
	const few = 5
	if len(names) <= few {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:few], ", "), len(names)-few)
}

// RandomParams initialises a model as Hugging Face's GPT2PreTrainedModel._init_weights does:
// weights and embeddings normal(0, 0.02), residual projections (attn.c_proj, mlp.c_proj)
// normal(0, 0.02/√(2·n_layers)), biases 0, layer norms weight 1 and bias 0. Each tensor
// draws from its own stream seeded by (seed, tensor index), so the result does not depend
// on the order or the parallelism of initialisation.
func RandomParams(cfg Config, seed uint64) *Params {
	p := &Params{Blocks: make([]Block, cfg.NLayers)}
	specs := p.specs(cfg)
	resid := 0.02 / math.Sqrt(2*float64(cfg.NLayers))
	for _, s := range specs {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		*s.dst = make([]float32, n)
	}
	// On the matrix products' workers, not a goroutine per tensor: hundreds of runnable
	// goroutines would queue the signal handler's behind them for seconds (Ctrl-C unheard).
	tensor.ParallelFor(len(specs), func(i int) {
		s := specs[i]
		x := *s.dst
		switch {
		case strings.HasSuffix(s.name, "ln_1.weight"), strings.HasSuffix(s.name, "ln_2.weight"), s.name == "ln_f.weight":
			for j := range x {
				x[j] = 1
			}
		case len(s.shape) == 1: // biases
		default:
			std := 0.02
			if strings.HasSuffix(s.name, "c_proj.weight") {
				std = resid
			}
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			for j := range x {
				x[j] = float32(r.NormFloat64() * std)
			}
		}
	})
	return p
}

// vectors returns a copy of b's vectors (biases, layer norms) without its matrices.
func (b *Block) vectors() Block {
	return Block{Ln1W: slices.Clone(b.Ln1W), Ln1B: slices.Clone(b.Ln1B), AttnB: slices.Clone(b.AttnB),
		AttnProjB: slices.Clone(b.AttnProjB), Ln2W: slices.Clone(b.Ln2W), Ln2B: slices.Clone(b.Ln2B),
		FcB: slices.Clone(b.FcB), ProjB: slices.Clone(b.ProjB)}
}

// Clone returns a deep copy: edits made to the copy leave p untouched.
func (p *Params) Clone(cfg Config) *Params {
	q := &Params{Blocks: make([]Block, len(p.Blocks))}
	ps, qs := p.fields(), q.fields()
	for i := range ps {
		*qs[i] = slices.Clone(*ps[i])
	}
	return q
}

// Named returns every tensor present under its Hugging Face name (lm_head.weight only when
// untied, lm_head.bias only when set), for writing a checkpoint.
func (p *Params) Named(cfg Config) (names []string, shapes [][]int, data [][]float32) {
	for _, s := range slots[float32](cfg, p) {
		if s.opt && *s.dst == nil {
			continue
		}
		names, shapes, data = append(names, s.name), append(shapes, s.shape), append(data, *s.dst)
	}
	return names, shapes, data
}
