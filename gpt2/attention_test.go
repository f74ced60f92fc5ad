package gpt2

import (
	"math"
	"slices"
	"testing"
)

// Attention multiplies blocks of causalRows query rows by only the keys the block's last
// row sees. Over several blocks, with and without cached keys from an earlier run, the
// scores are q·k/√d_head where a row may look and −Inf where it may not, the pattern is 0
// there, z is what the definition gives from the cached q, k and v (float64 by hand), and
// a prefix's logits are bitwise those of the longer sequence's first rows.
func TestAttentionCausalBlocks(t *testing.T) {
	cfg := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 64, NCtx: 3*causalRows + 20, DVocab: 50, LNEps: 1e-5, Activation: "gelu_new"}
	m := NewModel(cfg, RandomParams(cfg, 11), nil)
	ids := make([]int, cfg.NCtx)
	for i := range ids {
		ids[i] = (i*31 + 7) % cfg.DVocab
	}
	H, Dh, nv := cfg.NHeads, cfg.DHead, cfg.DVocab
	hooks := []string{Q(1), K(1), V(1), Scores(1), Pattern(1), Z(1)}
	full := mustRun(t, m, ids, RunOptions{Logits: LogitsAll, Cache: hooks})
	for _, T := range []int{causalRows, causalRows + 1, 2*causalRows + 5} {
		part := mustRun(t, m, ids[:T], RunOptions{Logits: LogitsAll})
		if !slices.Equal(part.Logits[0], full.Logits[0][:T*nv]) {
			t.Errorf("the logits of the first %d tokens change when %d more follow", T, len(ids)-T)
		}
	}
	check := func(name string, c Cache, past, T int) {
		q, k, v := c[Q(1)].Data, c[K(1)].Data, c[V(1)].Data // [T, H, Dh], k and v [past+T, H, Dh]
		scores, pattern, z := c[Scores(1)].Data, c[Pattern(1)].Data, c[Z(1)].Data
		Tk := past + T
		if len(k) != Tk*H*Dh || len(scores) != H*T*Tk {
			t.Fatalf("%s: %d keys, %d scores; want %d and %d", name, len(k)/(H*Dh), len(scores), Tk, H*T*Tk)
		}
		worst := 0.0
		for h := range H {
			for i := range T {
				row := (h*T + i) * Tk
				p := make([]float64, past+i+1)
				sum := 0.0
				for j := range p {
					s := 0.0
					for d := range Dh {
						s += float64(q[(i*H+h)*Dh+d]) * float64(k[(j*H+h)*Dh+d])
					}
					s /= math.Sqrt(float64(Dh))
					worst = max(worst, math.Abs(s-float64(scores[row+j])))
					p[j] = math.Exp(s)
					sum += p[j]
				}
				for j := past + i + 1; j < Tk; j++ {
					if !math.IsInf(float64(scores[row+j]), -1) || pattern[row+j] != 0 {
						t.Fatalf("%s: head %d row %d key %d past the row: score %v, pattern %v", name, h, i, j, scores[row+j], pattern[row+j])
					}
				}
				for d := range Dh {
					want := 0.0
					for j := range p {
						want += p[j] / sum * float64(v[(j*H+h)*Dh+d])
					}
					worst = max(worst, math.Abs(want-float64(z[(i*H+h)*Dh+d])))
				}
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s: scores or z differ from the definition by %.3g", name, worst)
		}
	}
	check("one pass", full.Cache[0], 0, len(ids))
	const past = 30
	kv := m.NewKVCache()
	mustRun(t, m, ids[:past], RunOptions{Logits: LogitsNone, Past: []*KVCache{kv}})
	rest := mustRun(t, m, ids[past:], RunOptions{Logits: LogitsAll, Past: []*KVCache{kv}, Cache: hooks})
	c := rest.Cache[0]
	k, v := full.Cache[0][K(1)], full.Cache[0][V(1)] // the cache holds this run's keys only
	c[K(1)], c[V(1)] = k, v
	check("after 30 cached positions", c, past, len(ids)-past)
}
