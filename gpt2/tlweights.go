package gpt2

import "fmt"

// TLWeights returns the weights under TransformerLens's names and shapes (embed.W_E [V, D],
// blocks.L.attn.W_Q [H, D, Dh], b_Q [H, Dh], W_O [H, Dh, D], mlp.W_in [D, M],
// unembed.W_U [D, V], b_U [V], ln weights when not folded ...), so that weights processed
// here can be compared with, or handed to, TransformerLens.
func (m *Model) TLWeights() map[string]Tensor {
	c, p := m.Config, m.Weights()
	D, H, Dh, M, V := c.DModel, c.NHeads, c.DHead, c.DMLP, c.DVocab
	out := map[string]Tensor{
		"embed.W_E":       {[]int{V, D}, p.WTE},
		"pos_embed.W_pos": {[]int{c.NCtx, D}, p.WPE},
	}
	folded := false
	for _, s := range m.Processing {
		folded = folded || s == FoldLN
	}
	for l := range p.Blocks {
		b := &p.Blocks[l]
		pre := fmt.Sprintf("blocks.%d.", l)
		for j, n := range []string{"Q", "K", "V"} {
			w := make([]float32, H*D*Dh) // [H, D, Dh]
			for h := 0; h < H; h++ {
				for d := 0; d < D; d++ {
					copy(w[(h*D+d)*Dh:(h*D+d+1)*Dh], b.AttnW[d*3*D+j*D+h*Dh:][:Dh])
				}
			}
			out[pre+"attn.W_"+n] = Tensor{[]int{H, D, Dh}, w}
			out[pre+"attn.b_"+n] = Tensor{[]int{H, Dh}, b.AttnB[j*D : (j+1)*D]}
		}
		out[pre+"attn.W_O"] = Tensor{[]int{H, Dh, D}, b.AttnProjW}
		out[pre+"attn.b_O"] = Tensor{[]int{D}, b.AttnProjB}
		out[pre+"mlp.W_in"] = Tensor{[]int{D, M}, b.FcW}
		out[pre+"mlp.b_in"] = Tensor{[]int{M}, b.FcB}
		out[pre+"mlp.W_out"] = Tensor{[]int{M, D}, b.ProjW}
		out[pre+"mlp.b_out"] = Tensor{[]int{D}, b.ProjB}
		if !folded {
			out[pre+"ln1.w"] = Tensor{[]int{D}, b.Ln1W}
			out[pre+"ln1.b"] = Tensor{[]int{D}, b.Ln1B}
			out[pre+"ln2.w"] = Tensor{[]int{D}, b.Ln2W}
			out[pre+"ln2.b"] = Tensor{[]int{D}, b.Ln2B}
		}
	}
	if !folded {
		out["ln_final.w"] = Tensor{[]int{D}, p.LnFW}
		out["ln_final.b"] = Tensor{[]int{D}, p.LnFB}
	}
	wu := p.Unembed()
	wt := make([]float32, D*V) // [D, V]
	for t := 0; t < V; t++ {
		for d := 0; d < D; d++ {
			wt[d*V+t] = wu[t*D+d]
		}
	}
	out["unembed.W_U"] = Tensor{[]int{D, V}, wt}
	bu := p.LMHeadB
	if bu == nil {
		bu = make([]float32, V)
	}
	out["unembed.b_U"] = Tensor{[]int{V}, bu}
	return out
}
