package edit

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
)

// Metric is one CounterFact measure over requests: the share of successes and the mean
// probability margin, each averaged first within a request, then over requests.
type Metric struct {
	Success float64 `json:"success"`
	Diff    float64 `json:"diff"` // mean of P(wanted) − P(unwanted)
	N       int     `json:"n"`    // requests that have the measure
}

// Report is the evaluation of a model on requests (CounterFact's metrics, Meng et al. 2022).
type Report struct {
	// Efficacy: P(new) > P(true) on the request's prompt.
	Efficacy Metric `json:"efficacy"`
	// Paraphrase: the same on the paraphrases.
	Paraphrase Metric `json:"paraphrase"`
	// Neighborhood: P(neighbour's own answer) > P(new) on the other subjects' prompts.
	Neighborhood Metric `json:"neighborhood"`
	// MCQ: the multiple-choice question now picks the new value's letter over the true one's.
	MCQ Metric `json:"mcq"`
	// Fluency is the mean weighted 2- and 3-gram entropy (bits) of texts sampled from the
	// prompts (ROME's n_gram_entropy, words split at spaces); 0 when not measured.
	Fluency float64 `json:"fluency"`
	// Cases holds each request's own scores.
	Cases []CaseScore `json:"cases"`
}

// CaseScore is one request's scores (NaN-free: a missing measure is −1).
type CaseScore struct {
	Subject      string  `json:"subject"`
	Efficacy     float64 `json:"efficacy"`
	Paraphrase   float64 `json:"paraphrase"`
	Neighborhood float64 `json:"neighborhood"`
	MCQ          float64 `json:"mcq"`
}

// EvalOptions configure Evaluate.
type EvalOptions struct {
	BOS     bool // prepend <|endoftext|> to every prompt
	Fluency int  // texts of 20 tokens sampled per request for the fluency score (0: none)
	Seed    uint64
}

// Evaluate scores m on reqs. Target probabilities are of the whole target: exp of the mean
// log-probability of its tokens, as CounterFact's evaluation compares them.
func Evaluate(ctx context.Context, m *gpt2.Model, reqs []Request, o EvalOptions) (*Report, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("edit: evaluation needs a model with a tokenizer")
	}
	sc := &scorer{m: m, bos: o.BOS}
	rep := &Report{}
	var flu float64
	var nflu int
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cs := CaseScore{Subject: r.Subject, Paraphrase: -1, Neighborhood: -1, MCQ: -1}
		pair := func(prompt, want, other string) (bool, float64, error) {
			p, err := sc.probs(prompt, want, other)
			if err != nil {
				return false, 0, err
			}
			return p[0] > p[1], p[0] - p[1], nil
		}
		ok, d, err := pair(r.Text(), r.TargetNew, r.TargetTrue)
		if err != nil {
			return nil, err
		}
		cs.Efficacy = b2f(ok)
		rep.Efficacy.add(cs.Efficacy, d)
		if len(r.Paraphrases) > 0 {
			var s, dd float64
			for _, p := range r.Paraphrases {
				ok, d, err := pair(p, r.TargetNew, r.TargetTrue)
				if err != nil {
					return nil, err
				}
				s, dd = s+b2f(ok), dd+d
			}
			n := float64(len(r.Paraphrases))
			cs.Paraphrase = s / n
			rep.Paraphrase.add(s/n, dd/n)
		}
		if len(r.Neighborhood) > 0 {
			var s, dd float64
			for _, nb := range r.Neighborhood {
				ok, d, err := pair(nb.Prompt, nb.Target, r.TargetNew)
				if err != nil {
					return nil, err
				}
				s, dd = s+b2f(ok), dd+d
			}
			n := float64(len(r.Neighborhood))
			cs.Neighborhood = s / n
			rep.Neighborhood.add(s/n, dd/n)
		}
		if r.MCQ != nil {
			ok, d, err := pair(r.MCQ.Prompt, r.MCQ.New, r.MCQ.True)
			if err != nil {
				return nil, err
			}
			cs.MCQ = b2f(ok)
			rep.MCQ.add(cs.MCQ, d)
		}
		for i := range o.Fluency {
			ids, err := sc.encode(r.Text())
			if err != nil {
				return nil, err
			}
			n := min(20, m.Config.NCtx-len(ids))
			if n < 1 {
				break
			}
			gen, err := m.Generate(ids, n, gpt2.Sampling{Temperature: 1, TopK: 5, Seed: o.Seed + uint64(i)}, false)
			if err != nil {
				return nil, err
			}
			flu += NGramEntropy(r.Text() + m.Tokenizer.Decode(gen))
			nflu++
		}
		rep.Cases = append(rep.Cases, cs)
	}
	for _, mt := range []*Metric{&rep.Efficacy, &rep.Paraphrase, &rep.Neighborhood, &rep.MCQ} {
		if mt.N > 0 {
			mt.Success /= float64(mt.N)
			mt.Diff /= float64(mt.N)
		}
	}
	if nflu > 0 {
		rep.Fluency = flu / float64(nflu)
	}
	return rep, nil
}

func (mt *Metric) add(s, d float64) { mt.Success, mt.Diff, mt.N = mt.Success+s, mt.Diff+d, mt.N+1 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// scorer computes target probabilities after prompts.
type scorer struct {
	m   *gpt2.Model
	bos bool
}

func (s *scorer) encode(text string) ([]int, error) {
	ids := s.m.Tokenizer.Encode(text)
	if s.bos {
		ids = append([]int{s.m.Tokenizer.EOT()}, ids...)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("edit: the prompt %q is empty", text)
	}
	return ids, nil
}

// probs returns, for each target, exp(mean log P(target tokens | prompt)), all targets in
// one batch.
func (s *scorer) probs(prompt string, targets ...string) ([]float64, error) {
	p, err := s.encode(prompt)
	if err != nil {
		return nil, err
	}
	seqs := make([][]int, len(targets))
	tids := make([][]int, len(targets))
	for i, t := range targets {
		tids[i] = s.m.Tokenizer.Encode(t)
		if len(tids[i]) == 0 {
			return nil, fmt.Errorf("edit: the target %q tokenizes to nothing", t)
		}
		seqs[i] = append(append([]int(nil), p...), tids[i][:len(tids[i])-1]...)
		if len(seqs[i]) > s.m.Config.NCtx {
			return nil, fmt.Errorf("edit: %q with its target has more tokens than the context of %d", prompt, s.m.Config.NCtx)
		}
	}
	res, err := s.m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsAll})
	if err != nil {
		return nil, err
	}
	defer res.Release()
	V := s.m.Config.DVocab
	out := make([]float64, len(targets))
	for i, t := range tids {
		var lp float64
		for j, id := range t {
			pos := len(p) - 1 + j
			lp += logProb(res.Logits[i][pos*V:(pos+1)*V], id)
		}
		out[i] = math.Exp(lp / float64(len(t)))
	}
	return out, nil
}

func logProb(logits []float32, t int) float64 {
	mx := logits[0]
	for _, v := range logits {
		mx = max(mx, v)
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v - mx))
	}
	return float64(logits[t]-mx) - math.Log(s)
}

// NGramEntropy is ROME's fluency measure of one text: the weighted mean (weights 2/3, 4/3)
// of the entropies, in bits, of its 2-gram and 3-gram frequency distributions.
func NGramEntropy(text string) float64 {
	words := strings.Fields(text)
	var total float64
	for i, n := range []int{2, 3} {
		w := []float64{2.0 / 3, 4.0 / 3}[i]
		counts := map[string]int{}
		all := 0
		for j := 0; j+n <= len(words); j++ {
			counts[strings.Join(words[j:j+n], " ")]++
			all++
		}
		var h float64
		for _, c := range counts {
			p := float64(c) / float64(all)
			h -= p * math.Log2(p)
		}
		total += w * h
	}
	return total / 2
}

// MergeReports combines reports on disjoint requests (single edits evaluated one by one)
// into the report on all of them.
func MergeReports(parts []*Report) *Report {
	out := &Report{}
	var flu float64
	var nflu int
	for _, p := range parts {
		for i, mt := range []*Metric{&out.Efficacy, &out.Paraphrase, &out.Neighborhood, &out.MCQ} {
			pm := []Metric{p.Efficacy, p.Paraphrase, p.Neighborhood, p.MCQ}[i]
			mt.Success += pm.Success * float64(pm.N)
			mt.Diff += pm.Diff * float64(pm.N)
			mt.N += pm.N
		}
		if p.Fluency > 0 {
			flu, nflu = flu+p.Fluency, nflu+1
		}
		out.Cases = append(out.Cases, p.Cases...)
	}
	for _, mt := range []*Metric{&out.Efficacy, &out.Paraphrase, &out.Neighborhood, &out.MCQ} {
		if mt.N > 0 {
			mt.Success /= float64(mt.N)
			mt.Diff /= float64(mt.N)
		}
	}
	if nflu > 0 {
		out.Fluency = flu / float64(nflu)
	}
	return out
}
