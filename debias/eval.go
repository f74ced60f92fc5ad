package debias

import (
	"context"
	"slices"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/gpt2"
)

// evalBatch is how many prompts one forward pass takes.
const evalBatch = 128

// Score runs every prompt once (with hooks, if any, in every run) and returns one audit
// record per prompt: letters rule and whole-vocabulary rule, the letters' logits, and
// logit(anchor) − logit(correct). Records are what audit.ComputeMetrics reads, so the
// numbers here are the audit's.
func Score(ctx context.Context, m *gpt2.Model, ps []Prompt, hooks []gpt2.Hook) ([]audit.Record, error) {
	out := make([]audit.Record, len(ps))
	err := inBatches(ctx, m, ps, wholePrompt,
		func(b, n int) gpt2.RunOptions { return gpt2.RunOptions{Logits: gpt2.LogitsLast, Hooks: hooks} },
		func(i int, res *gpt2.Result, s int) { out[i] = record(i, &ps[i], res.Logits[s]) })
	return out, err
}

// inBatches runs the prompts evalBatch at a time, checking ctx between batches: seq picks
// each prompt's tokens (whole, its prefix, its last token), opts gives the options of the
// batch of n prompts from b, and read takes prompt i's part (sequence s) of the result
// before it is released.
func inBatches(ctx context.Context, m *gpt2.Model, ps []Prompt, seq func(p *Prompt) []int,
	opts func(b, n int) gpt2.RunOptions, read func(i int, res *gpt2.Result, s int)) error {
	for b := 0; b < len(ps); b += evalBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := ps[b:min(b+evalBatch, len(ps))]
		seqs := make([][]int, len(batch))
		for i := range batch {
			seqs[i] = seq(&batch[i])
		}
		o := opts(b, len(batch))
		o.Context = ctx
		res, err := m.Run(seqs, o)
		if err != nil {
			return err
		}
		for s := range batch {
			read(b+s, res, s)
		}
		res.Release()
	}
	return nil
}

func wholePrompt(p *Prompt) []int { return p.IDs }

func record(idx int, p *Prompt, logits []float32) audit.Record {
	n := len(p.Letters)
	r := audit.Record{Item: idx, ID: p.ID, Order: make([]int, n), Answer: p.Answer, Tokens: len(p.IDs),
		Variant: "space", Logits: make([]float32, n), Pred: -1, Group: p.Group}
	top := 0
	for t, v := range logits {
		if v > logits[top] {
			top = t
		}
	}
	r.Top = top
	for k, id := range p.Letters {
		r.Order[k] = k
		r.Logits[k] = logits[id]
		if logits[id] > logits[p.Letters[r.PredLetters]] {
			r.PredLetters = k
		}
		if id == top {
			r.Pred = k
		}
	}
	r.Correct = r.Pred == r.Answer
	r.CorrectLetters = r.PredLetters == r.Answer
	if p.Answer != 0 {
		r.LogitDiff = r.Logits[0] - r.Logits[p.Answer]
	}
	return r
}

// Measured is one split's metrics (audit's, with bootstrap intervals) before or after edits,
// with the fallback groups and the kept groups also pooled.
type Measured struct {
	audit.Metrics
	Fallback *audit.GroupMetrics `json:"fallback,omitempty"`
	Kept     *audit.GroupMetrics `json:"kept,omitempty"`
}

// Measure computes the audit metrics of records (per group when they carry one) and of the
// pooled fallback and kept groups; permuted when the records show items in several orders.
func Measure(recs []audit.Record, fallback, kept []string, boot int, seed uint64, permuted bool) *Measured {
	me := &Measured{Metrics: audit.ComputeMetrics(recs, boot, seed, permuted)}
	pool := func(name string, groups []string) *audit.GroupMetrics {
		var sub []audit.Record
		for _, r := range recs {
			if slices.Contains(groups, r.Group) {
				r.Group = name
				sub = append(sub, r)
			}
		}
		if len(sub) == 0 || len(groups) < 2 {
			return nil
		}
		ms := audit.ComputeMetrics(sub, boot, seed, permuted)
		return &ms.Groups[0]
	}
	me.Fallback = pool("fallback", fallback)
	me.Kept = pool("kept", kept)
	return me
}
