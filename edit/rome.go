package edit

import (
	"fmt"
	"math"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/lens"
)

// Fact tokens: where a fact's key is read (ROME's fact_token).
const (
	SubjectLast = "subject_last" // the subject's last token (ROME's choice for GPT-2)
	LastToken   = "last"         // the prompt's last token
)

// Keys u is solved for (ROMEConfig.UKey; MEMIT's K too).
const (
	// KeyPrefixes: the key averaged over the prompt alone and after each prefix (ROME's
	// compute_u, MEMIT's compute_ks).
	KeyPrefixes = "prefixes"
	// KeyBare: the bare prompt's key, the one the closed form writes. C⁻¹ then acts on a
	// key of the contexts C was measured on: when the corpus never puts a sentence after
	// another (the organism's lines are single statements), the averaged key carries
	// directions C barely saw, which C⁻¹ inflates into u, and the edit reaches every
	// subject read through the template (README: Results on the organism).
	KeyBare = "bare"
)

// ROMEConfig holds ROME's hyperparameters (rome/rome_hparams.py, hparams/ROME/*.json).
type ROMEConfig struct {
	Layer       int     `json:"layer"`
	FactToken   string  `json:"fact_token"`
	Steps       int     `json:"v_num_grad_steps"`
	LR          float64 `json:"v_lr"`
	WeightDecay float64 `json:"v_weight_decay"`
	KLFactor    float64 `json:"kl_factor"`
	Clamp       float64 `json:"clamp_norm_factor"`
	// Prefixes are (length in tokens, count) of the generated context prefixes.
	Prefixes [][2]int `json:"context_template_length_params"`
	// PrefixKeys uses the key averaged over the prefixes in the closed form too (r-ROME),
	// instead of the bare prompt's.
	PrefixKeys bool `json:"prefix_keys"`
	// UKey is the key u = C⁻¹k is solved for: KeyPrefixes (ROME's) or KeyBare.
	UKey string `json:"u_key"`
	// BOS prepends <|endoftext|> to every prompt (the organism was trained so).
	BOS  bool   `json:"bos"`
	Seed uint64 `json:"seed"` // of the prefixes' sampling
}

// ROMEDefaults returns ROME's hyperparameters for a model of shape c: the published ones
// for gpt2-medium (layer 8, clamp 3), gpt2-large (12, 4) and gpt2-xl (17, 4); for other
// shapes the same rule, layer ≈ 0.35 × depth (8/24, 12/36, 17/48), and clamp 4.
func ROMEDefaults(c gpt2.Config) ROMEConfig {
	r := ROMEConfig{FactToken: SubjectLast, UKey: KeyPrefixes, Steps: 20, LR: 0.5, WeightDecay: 0.5, KLFactor: 0.0625, Clamp: 4,
		Prefixes: [][2]int{{5, 10}, {10, 10}}, Seed: 1}
	switch {
	case c.NLayers == 24 && c.DModel == 1024:
		r.Layer, r.Clamp = 8, 3
	case c.NLayers == 36 && c.DModel == 1280:
		r.Layer = 12
	case c.NLayers == 48 && c.DModel == 1600:
		r.Layer = 17
	default:
		r.Layer = int(math.Round(0.35 * float64(c.NLayers-1)))
	}
	return r
}

func (r ROMEConfig) check(c gpt2.Config) error {
	switch {
	case r.Layer < 0 || r.Layer >= c.NLayers:
		return fmt.Errorf("edit: layer %d outside the model's %d layers", r.Layer, c.NLayers)
	case r.FactToken != SubjectLast && r.FactToken != LastToken:
		return fmt.Errorf("edit: fact token %q is not %s or %s", r.FactToken, SubjectLast, LastToken)
	case r.UKey != KeyPrefixes && r.UKey != KeyBare:
		return fmt.Errorf("edit: u's key %q is not %s or %s", r.UKey, KeyPrefixes, KeyBare)
	case r.PrefixKeys && r.UKey == KeyBare:
		return fmt.Errorf("edit: the averaged key in the closed form (prefix keys) needs u of the averaged key too, not %s", KeyBare)
	case r.Steps < 1 || !(r.LR > 0) || r.WeightDecay < 0 || r.KLFactor < 0 || !(r.Clamp > 0):
		return fmt.Errorf("edit: bad optimisation settings (steps %d, lr %g, weight decay %g, KL factor %g, clamp %g)", r.Steps, r.LR, r.WeightDecay, r.KLFactor, r.Clamp)
	}
	return nil
}

// Prefixes generates ROME's context prefixes: for each (length, count) of cfg.Prefixes,
// count texts of that many tokens sampled from <|endoftext|> with top-k 5, seeded, each
// followed by ". " as in rome_main.get_context_templates. The bare prompt ("") comes
// first.
func Prefixes(m *gpt2.Model, cfg ROMEConfig) ([]string, error) {
	if m.Tokenizer == nil || m.Tokenizer.EOT() < 0 {
		return nil, fmt.Errorf("edit: ROME needs a tokenizer with <|endoftext|>")
	}
	out := []string{""}
	seed := cfg.Seed
	for _, lc := range cfg.Prefixes {
		for range lc[1] {
			ids, err := m.Generate([]int{m.Tokenizer.EOT()}, lc[0], gpt2.Sampling{Temperature: 1, TopK: 5, Seed: seed}, false)
			if err != nil {
				return nil, err
			}
			seed++
			var keep []int
			for _, id := range ids {
				if id != m.Tokenizer.EOT() {
					keep = append(keep, id)
				}
			}
			text := strings.NewReplacer("{", " ", "}", " ").Replace(m.Tokenizer.Decode(keep))
			out = append(out, text+". ")
		}
	}
	return out, nil
}

// prompt is one encoded prompt of an edit: its ids and where the fact is looked up.
type prompt struct {
	ids    []int
	lookup int // the fact token's position
}

// encodePrompt encodes prefix + template with the subject in place of "{}", and finds the
// fact token.
func encodePrompt(m *gpt2.Model, cfg ROMEConfig, prefix, template, subject string) (prompt, error) {
	at := strings.Index(template, "{}")
	if at < 0 {
		return prompt{}, fmt.Errorf("edit: the prompt %q has no {} for the subject", template)
	}
	text := prefix + strings.Replace(template, "{}", subject, 1)
	ids := m.Tokenizer.Encode(text)
	skip := 0
	if cfg.BOS {
		ids = append([]int{m.Tokenizer.EOT()}, ids...)
		skip = 1
	}
	p := prompt{ids: ids, lookup: len(ids) - 1}
	if cfg.FactToken == SubjectLast {
		from := len(prefix) + at
		_, end := lens.TokenRange(m.Tokenizer, text, from, from+len(subject), skip)
		if end <= skip {
			return prompt{}, fmt.Errorf("edit: the subject %q has no token in %q", subject, text)
		}
		p.lookup = end - 1
	}
	return p, nil
}

// toF64 and toF32 convert between the model's float32 and the solves' float64.
func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm64(a []float64) float64 { return math.Sqrt(dot64(a, a)) }

// ROMEResult is one rank-one edit of W_out and how it was found.
type ROMEResult struct {
	Layer int
	U     []float32 // [M] C⁻¹k/‖C⁻¹k‖
	V     []float32 // [D] (v* − W k*)/(k*·u)
	Key   []float32 // [M] k*, the key the closed form writes
	// Target is v*, the MLP output that makes the model say the new target.
	Target []float32
	Losses []float64 // the loss at each step of the optimisation
}

// ROME computes the rank-one edit of layer cfg.Layer's W_out that writes req (Meng et al.
// 2022): k* is the input of mlp.c_proj (mlp.hook_post) at the fact token, averaged over
// the prompt with each prefix (the bare prompt's with UKey KeyBare); u = C⁻¹k*/‖C⁻¹k*‖
// (cov nil: C = I); v* is the MLP output
// at the fact token that makes the model say the new target, found by Adam on a δ added
// there in every prefixed prompt (loss: target NLL + KLFactor × KL at "{subject} is a" +
// WeightDecay × ‖δ‖/‖v₀‖², δ clamped to Clamp × ‖v₀‖); then v = (v* − W k*)/(k*·u), so that
// the edited W_out maps k* to v* exactly. g supplies the gradients (it must be of m).
func ROME(m *gpt2.Model, g *gpt2.ModelGrad, req Request, cfg ROMEConfig, cov *Cov, prefixes []string) (*ROMEResult, error) {
	c := m.Config
	if err := cfg.check(c); err != nil {
		return nil, err
	}
	L := cfg.Layer
	if err := cov.check(c, L); err != nil {
		return nil, err
	}
	fs, err := factPrompts(m, cfg, req, prefixes)
	if err != nil {
		return nil, err
	}
	z, err := optimize(m, g, cfg, fs, L, gpt2.MLPOut(L))
	if err != nil {
		return nil, err
	}
	// Keys: mlp.hook_post at the fact token of each prefixed prompt.
	seqs := make([][]int, len(fs.rewrite))
	for i, p := range fs.rewrite {
		seqs[i] = p.ids[:p.lookup+1]
	}
	res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsNone, StopLayer: stopAfter(c, L), Cache: []string{gpt2.MLPPost(L)}})
	if err != nil {
		return nil, err
	}
	M := c.DMLP
	mean := make([]float64, M)
	for i, p := range fs.rewrite {
		k := res.Cache[i][gpt2.MLPPost(L)].Data[p.lookup*M : (p.lookup+1)*M]
		for j, v := range k {
			mean[j] += float64(v) / float64(len(seqs))
		}
	}
	bare := toF64(res.Cache[0][gpt2.MLPPost(L)].Data[fs.rewrite[0].lookup*M : (fs.rewrite[0].lookup+1)*M])
	res.Release()
	uKey := mean
	if cfg.UKey == KeyBare {
		uKey = bare
	}
	u, err := cov.solve(uKey)
	if err != nil {
		return nil, err
	}
	nu := norm64(u)
	for i := range u {
		u[i] /= nu
	}
	key, cur := bare, toF64(z.init)
	if cfg.PrefixKeys {
		key = mean
		out := make([]float32, c.DModel)
		tensor.MatMul(out, toF32(mean), 1, m.WOut(L), m.Params.Blocks[L].ProjB)
		cur = toF64(out)
	}
	den := dot64(key, u)
	if den == 0 || math.IsNaN(den) {
		return nil, fmt.Errorf("edit: the key is orthogonal to C⁻¹k* (k*·u = %g): no rank-one edit writes it", den)
	}
	v := make([]float64, c.DModel)
	for i := range v {
		v[i] = (z.target[i] - cur[i]) / den
	}
	return &ROMEResult{Layer: L, U: toF32(u), V: toF32(v), Key: toF32(key), Target: toF32(z.target), Losses: z.losses}, nil
}

// stopAfter is the StopLayer of a run that needs blocks up to l only.
func stopAfter(c gpt2.Config, l int) int {
	if l+1 < c.NLayers {
		return l + 1
	}
	return 0
}

// facts are the encoded prompts of one request: the prompt with each prefix and the
// target's tokens but the last appended, and the KL prompt "{subject} is a".
type facts struct {
	rewrite []prompt
	target  []int
	kl      prompt
}

func factPrompts(m *gpt2.Model, cfg ROMEConfig, req Request, prefixes []string) (*facts, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("edit: ROME needs a model with a tokenizer")
	}
	if req.Subject == "" {
		return nil, fmt.Errorf("edit: the request has no subject")
	}
	f := &facts{target: m.Tokenizer.Encode(req.TargetNew)}
	if len(f.target) == 0 {
		return nil, fmt.Errorf("edit: the new target %q tokenizes to nothing", req.TargetNew)
	}
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	for _, pre := range prefixes {
		p, err := encodePrompt(m, cfg, pre, req.Prompt, req.Subject)
		if err != nil {
			return nil, err
		}
		if n := len(p.ids) + len(f.target) - 1; n > m.Config.NCtx {
			return nil, fmt.Errorf("edit: the prompt %q with its target has %d tokens, more than the context of %d", pre+req.Prompt, n, m.Config.NCtx)
		}
		f.rewrite = append(f.rewrite, p)
	}
	var err error
	if f.kl, err = encodePrompt(m, cfg, "", "{} is a", req.Subject); err != nil {
		return nil, err
	}
	return f, nil
}

// zResult is the outcome of the v*/z optimisation.
type zResult struct {
	init   []float32 // the site's value at the bare prompt's fact token
	target []float64 // v*
	losses []float64
}

// optimize finds the value of site (hook_mlp_out for ROME, hook_resid_post for MEMIT; both
// are added into block layer's output) at the fact token that makes the model say the
// target: ROME's compute_v and MEMIT's compute_z. Each step runs the blocks after layer
// only, from the residual stream computed once, with δ added at every prompt's fact token,
// and only the positions from the fact token on (the earlier ones' keys and values are
// computed once).
func optimize(m *gpt2.Model, g *gpt2.ModelGrad, cfg ROMEConfig, f *facts, layer int, site string) (*zResult, error) {
	c := m.Config
	D := c.DModel
	nr := len(f.rewrite)
	var rows []gpt2.TrainRow
	var lookup []int
	weight := float32(1 / float64(len(f.target)*nr))
	for _, p := range f.rewrite {
		ids := append(append([]int(nil), p.ids...), f.target[:len(f.target)-1]...)
		T := len(ids)
		row := gpt2.TrainRow{IDs: ids, Target: make([]int, T), Weight: make([]float32, T)}
		for i, t := range f.target {
			pos := len(p.ids) - 1 + i
			row.Target[pos], row.Weight[pos] = t, weight
		}
		rows = append(rows, row)
		lookup = append(lookup, p.lookup)
	}
	// The KL row: the model's own distribution at the subject of "{subject} is a" before
	// the edit is the reference.
	klIDs := f.kl.ids
	kl, err := m.Run([][]int{klIDs}, gpt2.RunOptions{Logits: gpt2.LogitsAll})
	if err != nil {
		return nil, err
	}
	V := c.DVocab
	ref := logSoftmax(kl.Logits[0][f.kl.lookup*V : (f.kl.lookup+1)*V])
	kl.Release()
	klRow := gpt2.TrainRow{IDs: klIDs, Target: make([]int, len(klIDs)), Weight: make([]float32, len(klIDs)), KLRef: make([][]float32, len(klIDs))}
	klRow.Weight[f.kl.lookup], klRow.KLRef[f.kl.lookup] = float32(cfg.KLFactor), ref
	rows = append(rows, klRow)
	lookup = append(lookup, f.kl.lookup)

	// δ changes nothing before the fact token: each step runs the rows from there on, over
	// KV caches of their earlier positions computed once here (no loss sits before it).
	seqs := make([][]int, len(rows))
	past := make([]*gpt2.KVCache, len(rows))
	for i, r := range rows {
		seqs[i], past[i] = r.IDs, m.NewKVCache()
	}
	base, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsNone, Past: past, Cache: []string{gpt2.ResidPost(layer), site}})
	if err != nil {
		return nil, err
	}
	start := make([][]float32, len(rows))
	resid := make([][]float32, len(rows))
	for i, r := range rows {
		lk := lookup[i]
		resid[i] = append([]float32(nil), base.Cache[i][gpt2.ResidPost(layer)].Data[lk*D:]...)
		start[i] = make([]float32, len(resid[i]))
		past[i] = past[i].Head(lk)
		rows[i] = gpt2.TrainRow{IDs: r.IDs[lk:], Target: r.Target[lk:], Weight: r.Weight[lk:]}
		if r.KLRef != nil {
			rows[i].KLRef = r.KLRef[lk:]
		}
	}
	init := append([]float32(nil), base.Cache[0][site].Data[lookup[0]*D:(lookup[0]+1)*D]...)
	base.Release()
	init64 := toF64(init)
	initNorm := norm64(init64)
	maxNorm := cfg.Clamp * initNorm

	delta := make([]float64, D)
	adam := newAdam(D, cfg.LR)
	z := &zResult{init: init}
	for it := range cfg.Steps {
		for i := range rows {
			copy(start[i], resid[i])
			for j := range D {
				start[i][j] += float32(delta[j])
			}
		}
		res, err := g.Gradients(rows, gpt2.GradOptions{NoParamGrads: true, StartLayer: layer + 1, StartResid: start, Prefix: past})
		if err != nil {
			return nil, err
		}
		dn := norm64(delta)
		loss := res.Loss + cfg.WeightDecay*dn/(initNorm*initNorm)
		z.losses = append(z.losses, loss)
		if loss < 5e-2 || it == cfg.Steps-1 {
			break
		}
		grad := make([]float64, D)
		for i := range rows {
			gx := res.StartGrad[i][:D]
			for j, v := range gx {
				grad[j] += float64(v)
			}
		}
		if dn > 0 {
			for j := range grad {
				grad[j] += cfg.WeightDecay * delta[j] / (dn * initNorm * initNorm)
			}
		}
		adam.step(delta, grad)
		if n := norm64(delta); n > maxNorm {
			for j := range delta {
				delta[j] *= maxNorm / n
			}
		}
	}
	z.target = make([]float64, D)
	for j := range z.target {
		z.target[j] = init64[j] + delta[j]
	}
	return z, nil
}

func logSoftmax(x []float32) []float32 {
	mx := x[0]
	for _, v := range x {
		mx = max(mx, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - mx))
	}
	lse := float64(mx) + math.Log(s)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) - lse)
	}
	return out
}

// adam is torch.optim.Adam without weight decay (β = 0.9, 0.999, ε = 1e-8).
type adam struct {
	lr   float64
	t    int
	m, v []float64
}

func newAdam(n int, lr float64) *adam {
	return &adam{lr: lr, m: make([]float64, n), v: make([]float64, n)}
}

func (a *adam) step(x, g []float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for i := range x {
		a.m[i] = b1*a.m[i] + (1-b1)*g[i]
		a.v[i] = b2*a.v[i] + (1-b2)*g[i]*g[i]
		x[i] -= a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + eps)
	}
}
