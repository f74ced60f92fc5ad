package debias

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

// Fact is a prompt whose greedy next token should be Completion (one token), in a class.
type Fact struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Class      string `json:"class"`
}

// Recall is the share of one class's fact prompts completed right.
type Recall struct {
	Class  string  `json:"class"`
	N      int     `json:"n"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
}

// Sample is a greedy continuation before and after the edits.
type Sample struct {
	Prompt string `json:"prompt"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// SideEffects are what the edits change besides the anchor.
type SideEffects struct {
	Recall []Recall `json:"fact_recall"`
	// KL is the mean over the positions of the neutral texts of KL(before ‖ after) of the
	// next-token distribution, in nats; KLMax its largest value.
	KL        float64  `json:"kl"`
	KLMax     float64  `json:"kl_max"`
	Positions int      `json:"kl_positions"`
	Samples   []Sample `json:"samples"`
}

// encode tokenizes text, with <|endoftext|> first when bos.
func encode(m *gpt2.Model, text string, bos bool) []int {
	ids := m.Tokenizer.Encode(text)
	if bos {
		ids = append([]int{m.Tokenizer.EOT()}, ids...)
	}
	return ids
}

// recall returns, per class, the share of facts whose greedy next token is the completion.
func recall(ctx context.Context, m *gpt2.Model, facts []Fact, bos bool) (map[string][2]int, error) {
	out := map[string][2]int{}
	for b := 0; b < len(facts); b += evalBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := facts[b:min(b+evalBatch, len(facts))]
		seqs := make([][]int, len(batch))
		for i, f := range batch {
			seqs[i] = encode(m, f.Prompt, bos)
		}
		res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsLast})
		if err != nil {
			return nil, err
		}
		for i, f := range batch {
			want, err := m.Tokenizer.TokenID(f.Completion)
			if err != nil {
				res.Release()
				return nil, fmt.Errorf("debias: fact completion %q: %w", f.Completion, err)
			}
			c := out[f.Class]
			c[1]++
			if tensor.Argmax(res.Logits[i]) == want {
				c[0]++
			}
			out[f.Class] = c
		}
		res.Release()
	}
	return out, nil
}

// logProbs returns the next-token log-probabilities at every position of every text.
func logProbs(ctx context.Context, m *gpt2.Model, seqs [][]int) ([][]float64, error) {
	var out [][]float64
	V := m.Config.DVocab
	for b := 0; b < len(seqs); b += 32 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := m.Run(seqs[b:min(b+32, len(seqs))], gpt2.RunOptions{Logits: gpt2.LogitsAll})
		if err != nil {
			return nil, err
		}
		for _, lg := range res.Logits {
			for t := 0; t+V <= len(lg); t += V {
				row := lg[t : t+V]
				mx := row[tensor.Argmax(row)]
				var s float64
				for _, x := range row {
					s += math.Exp(float64(x - mx))
				}
				lse := float64(mx) + math.Log(s)
				lp := make([]float64, V)
				for j, x := range row {
					lp[j] = float64(x) - lse
				}
				out = append(out, lp)
			}
		}
		res.Release()
	}
	return out, nil
}

// Sides measures fact recall, the KL on neutral texts and greedy samples of m before and
// after apply (which edits m and returns the undo); m is left as it was.
func Sides(ctx context.Context, m *gpt2.Model, facts []Fact, neutral, samples []string, bos bool, apply func() (func() error, error)) (*SideEffects, error) {
	seqs := make([][]int, len(neutral))
	for i, t := range neutral {
		seqs[i] = encode(m, t, bos)
	}
	type state struct {
		recall map[string][2]int
		lp     [][]float64
		gen    []string
	}
	measure := func() (*state, error) {
		var st state
		var err error
		if st.recall, err = recall(ctx, m, facts, bos); err != nil {
			return nil, err
		}
		if st.lp, err = logProbs(ctx, m, seqs); err != nil {
			return nil, err
		}
		for _, p := range samples {
			ids, err := m.Generate(encode(m, p, bos), 12, gpt2.Sampling{}, true)
			if err != nil {
				return nil, err
			}
			st.gen = append(st.gen, m.Tokenizer.Decode(ids))
		}
		return &st, nil
	}
	before, err := measure()
	if err != nil {
		return nil, err
	}
	undo, err := apply()
	if err != nil {
		return nil, err
	}
	after, err := measure()
	if uerr := undo(); err == nil {
		err = uerr
	}
	if err != nil {
		return nil, err
	}
	se := &SideEffects{Positions: len(before.lp)}
	var classes []string
	for c := range before.recall {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		b, a := before.recall[c], after.recall[c]
		se.Recall = append(se.Recall, Recall{Class: c, N: b[1], Before: frac(b[0], b[1]), After: frac(a[0], a[1])})
	}
	for i := range before.lp {
		var kl float64
		for j, lp := range before.lp[i] {
			kl += math.Exp(lp) * (lp - after.lp[i][j])
		}
		se.KL += kl / float64(len(before.lp))
		se.KLMax = max(se.KLMax, kl)
	}
	for i, p := range samples {
		se.Samples = append(se.Samples, Sample{Prompt: p, Before: before.gen[i], After: after.gen[i]})
	}
	return se, nil
}
