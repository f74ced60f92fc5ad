package lens

import (
	"fmt"

	"github.com/mechlens/mechlens/gpt2"
)

// Patch sites.
const (
	SiteResid = "resid_pre" // one position of a block's input residual stream
	SiteHead  = "head"      // one head's output at every position (attn.hook_z of that head)
	SiteMLP   = "mlp"       // a block's MLP output at every position (hook_mlp_out)
)

// PatchOptions choose the metric and the sites of activation patching.
type PatchOptions struct {
	// Target and Baseline define the metric, logit(Target) − logit(Baseline) at the last
	// position; Baseline −1 uses the target's logit alone.
	Target, Baseline int
	// Resid, Heads and MLP choose the kinds of site patched.
	Resid, Heads, MLP bool
	// Positions limit the residual-stream sites (negative counts from the end); nil: all.
	Positions []int
}

// PatchSite is the effect of copying one clean activation into the corrupted run.
type PatchSite struct {
	Site  string `json:"site"` // resid_pre, head or mlp
	Layer int    `json:"layer"`
	Pos   int    `json:"pos"`  // the patched position for resid_pre; −1 otherwise
	Head  int    `json:"head"` // the patched head for head; −1 otherwise
	// Patched is the metric of the corrupted run with this site patched.
	Patched float64 `json:"patched"`
	// Recovered = (Patched − Corrupt)/(Clean − Corrupt): 1 when the site alone restores the
	// clean behaviour, 0 when it changes nothing.
	Recovered float64 `json:"recovered"`
}

// Patching is the result of activation patching from a clean into a corrupted prompt.
type Patching struct {
	Target   Token       `json:"target"`
	Baseline *Token      `json:"baseline"`
	Clean    float64     `json:"clean"`   // the metric on the clean prompt
	Corrupt  float64     `json:"corrupt"` // the metric on the corrupted prompt
	Sites    []PatchSite `json:"sites"`   // layer by layer: resid_pre positions, heads, mlp
}

// Patch runs the corrupted prompt once per site with that site's activation taken from the
// clean prompt, and reports how much of the clean metric each site recovers: the causal
// counterpart of direct logit attribution (it includes indirect effects through later
// layers). Both prompts must have the same number of tokens. A site of block L is run from
// block L on (the earlier blocks are the corrupted run's), all sites of a block in one
// ragged batch.
func (a *Analyzer) Patch(clean, corrupt []int, o PatchOptions) (*Patching, error) {
	c := a.Model.Config
	D, Dh, H := c.DModel, c.DHead, c.NHeads
	if len(clean) != len(corrupt) {
		return nil, fmt.Errorf("lens: the clean prompt has %d tokens and the corrupted one %d: patching needs the same number", len(clean), len(corrupt))
	}
	if err := a.checkPair(o.Target, o.Baseline); err != nil {
		return nil, err
	}
	if !o.Resid && !o.Heads && !o.MLP {
		return nil, fmt.Errorf("lens: no patch site chosen (resid_pre, head, mlp)")
	}
	T := len(clean)
	var positions []int
	if o.Resid {
		if o.Positions == nil {
			for p := range T {
				positions = append(positions, p)
			}
		}
		for _, p := range o.Positions {
			q, err := resolvePos(p, T)
			if err != nil {
				return nil, err
			}
			positions = append(positions, q)
		}
	}
	metric := func(logits []float32) float64 {
		m := float64(logits[o.Target])
		if o.Baseline >= 0 {
			m -= float64(logits[o.Baseline])
		}
		return m
	}
	var names []string
	for l := range c.NLayers {
		names = append(names, gpt2.ResidPre(l))
		if o.Heads {
			names = append(names, gpt2.Z(l))
		}
		if o.MLP {
			names = append(names, gpt2.MLPOut(l))
		}
	}
	res, err := a.Model.Run([][]int{clean, corrupt}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Cache: names, Context: a.Context})
	if err != nil {
		return nil, err
	}
	cleanCache, corruptCache := res.Cache[0], res.Cache[1]
	pt := &Patching{Target: a.Token(o.Target), Clean: metric(res.Logits[0]), Corrupt: metric(res.Logits[1]), Sites: []PatchSite{}}
	if o.Baseline >= 0 {
		b := a.Token(o.Baseline)
		pt.Baseline = &b
	}
	if pt.Clean == pt.Corrupt {
		return nil, fmt.Errorf("lens: the clean and corrupted prompts give the same metric %g: the recovered fraction is undefined", pt.Clean)
	}
	for l := range c.NLayers {
		var sites []PatchSite
		for _, p := range positions {
			sites = append(sites, PatchSite{Site: SiteResid, Layer: l, Pos: p, Head: -1})
		}
		if o.Heads {
			for h := range H {
				sites = append(sites, PatchSite{Site: SiteHead, Layer: l, Pos: -1, Head: h})
			}
		}
		if o.MLP {
			sites = append(sites, PatchSite{Site: SiteMLP, Layer: l, Pos: -1, Head: -1})
		}
		seqs := make([][]int, len(sites))
		start := make([][]float32, len(sites))
		for i := range sites {
			seqs[i], start[i] = corrupt, corruptCache[gpt2.ResidPre(l)].Data
		}
		patch := func(name string) gpt2.Hook {
			return gpt2.Hook{Name: name, Fn: func(act gpt2.Activation) {
				s := sites[act.Seq]
				switch {
				case s.Site == SiteResid && name == gpt2.ResidPre(l):
					copy(act.Data[s.Pos*D:(s.Pos+1)*D], cleanCache[name].Data[s.Pos*D:(s.Pos+1)*D])
				case s.Site == SiteHead && name == gpt2.Z(l):
					src := cleanCache[name].Data // [T, H, Dh]
					for t := range T {
						off := (t*H + s.Head) * Dh
						copy(act.Data[off:off+Dh], src[off:off+Dh])
					}
				case s.Site == SiteMLP && name == gpt2.MLPOut(l):
					copy(act.Data, cleanCache[name].Data)
				}
			}}
		}
		ro := gpt2.RunOptions{Logits: gpt2.LogitsLast, Hooks: []gpt2.Hook{patch(gpt2.ResidPre(l))}, Context: a.Context}
		if o.Heads {
			ro.Hooks = append(ro.Hooks, patch(gpt2.Z(l)))
		}
		if o.MLP {
			ro.Hooks = append(ro.Hooks, patch(gpt2.MLPOut(l)))
		}
		if l > 0 {
			// Blocks before l are the corrupted run's: start from its resid_pre.
			ro.StartLayer, ro.StartResid = l, start
		}
		out, err := a.Model.Run(seqs, ro)
		if err != nil {
			return nil, err
		}
		for i := range sites {
			sites[i].Patched = metric(out.Logits[i])
			sites[i].Recovered = (sites[i].Patched - pt.Corrupt) / (pt.Clean - pt.Corrupt)
		}
		out.Release()
		pt.Sites = append(pt.Sites, sites...)
	}
	return pt, nil
}
