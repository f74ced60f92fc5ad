package lens

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
)

// Kinds of state causal tracing restores (ROME's experiments/causal_trace.py).
const (
	TraceHidden = "hidden" // a block's output, hook_resid_post, at one layer
	TraceMLP    = "mlp"    // hook_mlp_out over a window of layers
	TraceAttn   = "attn"   // hook_attn_out over a window of layers
)

// TraceKinds lists the kinds in the order of the paper's figure.
var TraceKinds = []string{TraceHidden, TraceMLP, TraceAttn}

// SubjectRange returns the tokens [start, end) of ids (the encoding of prompt, after skip
// leading tokens such as <|endoftext|>) that overlap the first occurrence of subject in
// prompt, found through the tokenizer's byte offsets. A subject absent from the prompt is
// an error.
func SubjectRange(tok *gpt2.Tokenizer, prompt, subject string, skip int) (start, end int, err error) {
	if tok == nil {
		return 0, 0, fmt.Errorf("lens: this model has no tokenizer to find the subject %q", subject)
	}
	if subject == "" {
		return 0, 0, fmt.Errorf("lens: the subject is empty")
	}
	at := strings.Index(prompt, subject)
	if at < 0 {
		return 0, 0, fmt.Errorf("lens: the subject %q is not in the prompt %q", subject, prompt)
	}
	start, end = TokenRange(tok, prompt, at, at+len(subject), skip)
	return start, end, nil
}

// TokenRange returns the tokens [start, end) of the encoding of text (after skip leading
// tokens) that overlap its bytes [from, to).
func TokenRange(tok *gpt2.Tokenizer, text string, from, to, skip int) (int, int) {
	_, offs := tok.EncodeWithOffsets(text)
	start, end := -1, -1
	for i, o := range offs {
		if o[1] > from && o[0] < to {
			if start < 0 {
				start = i
			}
			end = i + 1
		}
	}
	return start + skip, end + skip
}

// CausalTraceOptions configure causal tracing.
type CausalTraceOptions struct {
	// Subject is the token range [start, end) whose embeddings are corrupted.
	SubjectStart, SubjectEnd int
	// Target is the token whose probability is measured; −1: the clean run's top token.
	Target int
	// Samples is the number of corrupted runs (ROME: 10).
	Samples int
	// Noise is the standard deviation of the Gaussian noise; 0: 3 × NoiseStd(model), ROME's
	// "s3".
	Noise float64
	// Kinds are the states restored (TraceHidden, TraceMLP, TraceAttn); nil: all three.
	Kinds []string
	// Window is the number of layers restored together for mlp and attn (ROME: 10), centred
	// on the layer and clipped at the ends.
	Window int
	// Seed fixes the noise.
	Seed uint64
}

// CausalTrace is the outcome of causal tracing: the probability of the target when the
// subject is corrupted and one state of the clean run is restored.
type CausalTrace struct {
	Target       Token        `json:"target"`
	SubjectStart int          `json:"subject_start"`
	SubjectEnd   int          `json:"subject_end"` // exclusive
	Noise        float64      `json:"noise"`       // the noise's standard deviation
	Samples      int          `json:"samples"`
	Window       int          `json:"window"`
	Seed         uint64       `json:"seed"`
	Clean        float64      `json:"clean"`   // P(target) on the clean prompt
	Corrupt      float64      `json:"corrupt"` // mean P(target) over the corrupted runs alone
	Panels       []TracePanel `json:"panels"`
}

// TracePanel holds one kind's scores.
type TracePanel struct {
	Kind string `json:"kind"`
	// Scores[t][l] is the mean P(target) over the corrupted runs with the clean state of
	// layer l (for mlp and attn, of the window around l) restored at position t.
	Scores [][]float64 `json:"scores"`
}

// NoiseStd is the standard deviation of the entries of the token embedding W_E: ROME
// measures it over the subjects' embeddings of its dataset; over the whole vocabulary it
// needs no dataset and is within a few per cent for GPT-2.
func NoiseStd(m *gpt2.Model) float64 {
	c := m.Config
	var s, ss float64
	row := make([]float32, c.DModel)
	for t := range c.DVocab {
		m.TokenEmbedding(t, row)
		for _, v := range row {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
	}
	n := float64(c.DVocab * c.DModel)
	mean := s / n
	return math.Sqrt(max(0, ss/n-mean*mean))
}

// CausalTrace corrupts the subject's token embeddings (hook_embed, before the position
// embeddings) with seeded Gaussian noise in o.Samples runs, and for every position and
// layer restores one state of the clean run in all of them at once (one batch), reporting
// the mean probability of the target at the last position. A run restoring block l's
// state at position p starts from the corrupted runs' residual stream at the first block
// it changes and computes positions p.. only, over the corrupted runs' keys and values of
// the positions before p (nothing before p changes): the same numbers as full runs, up to
// float rounding.
func (a *Analyzer) CausalTrace(ids []int, o CausalTraceOptions) (*CausalTrace, error) {
	m := a.Model
	c := m.Config
	T, D, L := len(ids), c.DModel, c.NLayers
	if o.SubjectStart < 0 || o.SubjectEnd > T || o.SubjectStart >= o.SubjectEnd {
		return nil, fmt.Errorf("lens: subject tokens [%d, %d) outside the prompt's %d tokens", o.SubjectStart, o.SubjectEnd, T)
	}
	if o.Samples < 1 {
		return nil, fmt.Errorf("lens: causal tracing needs at least one corrupted run, got %d", o.Samples)
	}
	if o.Window < 1 {
		return nil, fmt.Errorf("lens: the window must be at least one layer, got %d", o.Window)
	}
	if o.Noise < 0 || math.IsNaN(o.Noise) || math.IsInf(o.Noise, 0) {
		return nil, fmt.Errorf("lens: noise %g is not a standard deviation", o.Noise)
	}
	kinds := o.Kinds
	if kinds == nil {
		kinds = TraceKinds
	}
	for _, k := range kinds {
		if k != TraceHidden && k != TraceMLP && k != TraceAttn {
			return nil, fmt.Errorf("lens: unknown causal-trace kind %q (hidden, mlp, attn)", k)
		}
	}
	if o.Target >= 0 {
		if err := a.checkToken("target", o.Target); err != nil {
			return nil, err
		}
	}
	noise := o.Noise
	if noise == 0 {
		noise = 3 * NoiseStd(m)
	}
	S := o.Samples
	// Each corrupted run keeps three states and the keys and values of every layer, [T, D]
	// each, until the end: a sample count the machine cannot hold is refused before the
	// first allocation, not killed by the system after minutes of swapping.
	need := float64(S) * float64(5*L*T*D) * 4
	if avail := procstat.AvailableMiB() * (1 << 20); avail > 0 && need > avail {
		return nil, fmt.Errorf("lens: %d samples need %.3g GB for the corrupted runs' states; this machine has %.3g GB available", S, need/1e9, avail/1e9)
	}
	// noiseAt[s] is sample s's noise over the subject's tokens, [subject tokens, D], drawn
	// in the order (sample, token, dimension) as ROME draws its array.
	r := rand.New(rand.NewPCG(o.Seed, 0x636175736174))
	nsub := o.SubjectEnd - o.SubjectStart
	noiseAt := make([][]float32, S)
	for s := range noiseAt {
		noiseAt[s] = make([]float32, nsub*D)
		for i := range noiseAt[s] {
			noiseAt[s][i] = float32(noise * r.NormFloat64())
			// Past float32's range the corrupted runs are NaN and every score with them.
			if math.IsInf(float64(noiseAt[s][i]), 0) {
				return nil, fmt.Errorf("lens: noise %g overflows float32, the type of the embeddings", noise)
			}
		}
	}
	// corrupt adds sample s's noise to the token embeddings x of positions p.. of the
	// prompt.
	corrupt := func(x []float32, s, p int) {
		nz := noiseAt[s]
		for t := max(p, o.SubjectStart); t < o.SubjectEnd; t++ {
			row, n := x[(t-p)*D:(t-p+1)*D], nz[(t-o.SubjectStart)*D:]
			for i := range row {
				row[i] += n[i]
			}
		}
	}

	// One clean run and the S corrupted ones, keeping what the restoring runs need: the
	// states restored and started from, and the corrupted runs' keys and values.
	var keep []string
	for l := range L {
		keep = append(keep, gpt2.ResidPost(l), gpt2.MLPOut(l), gpt2.AttnOut(l))
	}
	seqs := make([][]int, S+1)
	past := make([]*gpt2.KVCache, S+1)
	for i := range seqs {
		seqs[i] = ids
		if i > 0 {
			past[i] = m.NewKVCache()
		}
	}
	base, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsLast, Cache: keep, Past: past, Hooks: []gpt2.Hook{{
		Name: gpt2.HookEmbed, Fn: func(act gpt2.Activation) {
			if act.Seq > 0 {
				corrupt(act.Data, act.Seq-1, 0)
			}
		}}}})
	if err != nil {
		return nil, err
	}
	defer base.Release()
	target := o.Target
	if target < 0 {
		target = topK(base.Logits[0], 1, false)[0]
	}
	ct := &CausalTrace{Target: a.Token(target), SubjectStart: o.SubjectStart, SubjectEnd: o.SubjectEnd,
		Noise: noise, Samples: S, Window: o.Window, Seed: o.Seed, Clean: probOf(base.Logits[0], target)}
	for s := 1; s <= S; s++ {
		ct.Corrupt += probOf(base.Logits[s], target) / float64(S)
	}
	clean := base.Cache[0]

	// Restoring a state at position p changes nothing before p, so each restoring run
	// computes positions p.. only, over the keys and values of its corrupted run's first p
	// positions; before the subject the clean and corrupted states are equal, so those
	// positions score the corrupted probability without a run. Sequence (p−SubjectStart)·S
	// + s is sample s with position p restored; every position of a layer runs in one batch.
	from := o.SubjectStart
	batch := make([][]int, (T-from)*S)
	prefix := make([]*gpt2.KVCache, len(batch))
	posOf := func(i int) int { return from + i/S }
	for i := range batch {
		batch[i] = ids[posOf(i):]
		prefix[i] = past[1+i%S].Head(posOf(i))
	}
	for _, kind := range kinds {
		panel := TracePanel{Kind: kind, Scores: make([][]float64, T)}
		for t := range panel.Scores {
			panel.Scores[t] = make([]float64, L)
			if t < from {
				for l := range L {
					panel.Scores[t][l] = ct.Corrupt
				}
			}
		}
		for l := range L {
			// The layers whose state is restored, and the hook point holding it.
			lo, hi, point := l, l+1, gpt2.ResidPost
			if kind != TraceHidden {
				lo, hi = max(0, l-o.Window/2), min(L, l+(o.Window+1)/2)
				point = gpt2.MLPOut
				if kind == TraceAttn {
					point = gpt2.AttnOut
				}
			}
			ro := gpt2.RunOptions{Logits: gpt2.LogitsLast, Prefix: prefix}
			start := lo
			if kind == TraceHidden {
				start = l + 1 // block l's output is block l+1's input
			}
			if start == 0 {
				ro.Hooks = append(ro.Hooks, gpt2.Hook{Name: gpt2.HookEmbed, Fn: func(act gpt2.Activation) {
					corrupt(act.Data, act.Seq%S, posOf(act.Seq))
				}})
			} else {
				ro.StartLayer = start
				ro.StartResid = make([][]float32, len(batch))
				for i := range batch {
					ro.StartResid[i] = base.Cache[1+i%S][gpt2.ResidPost(start-1)].Data[posOf(i)*D:]
				}
			}
			if kind == TraceHidden {
				// Restore position p of block l's output in copies of the corrupted runs'.
				for i := range ro.StartResid {
					ro.StartResid[i] = append([]float32(nil), ro.StartResid[i]...)
					p := posOf(i)
					copy(ro.StartResid[i][:D], clean[gpt2.ResidPost(l)].Data[p*D:(p+1)*D])
				}
			} else {
				for w := lo; w < hi; w++ {
					name := point(w)
					src := clean[name].Data
					ro.Hooks = append(ro.Hooks, gpt2.Hook{Name: name, Fn: func(act gpt2.Activation) {
						p := posOf(act.Seq)
						copy(act.Data[:D], src[p*D:(p+1)*D])
					}})
				}
			}
			out, err := m.Run(batch, ro)
			if err != nil {
				return nil, err
			}
			for i := range batch {
				panel.Scores[posOf(i)][l] += probOf(out.Logits[i], target) / float64(S)
			}
			out.Release()
		}
		ct.Panels = append(ct.Panels, panel)
	}
	return ct, nil
}

// probOf is softmax(logits)[t], in float64.
func probOf(logits []float32, t int) float64 {
	mx := logits[0]
	for _, v := range logits[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	return math.Exp(float64(logits[t]-mx)) / sum
}
