package audit

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/lens"
)

// Record is the score of one item shown in one order: one line of items.jsonl.
type Record struct {
	Item    int    `json:"item"`     // index of the item in the data set (after skipped rows)
	ID      string `json:"id"`       // the row's id, "line N" or the generator's id
	Perm    int    `json:"perm"`     // index of the order among the item's permutations (0: as given)
	Order   []int  `json:"order"`    // order[i] = index in the item's choices of the option shown at position i
	Answer  int    `json:"answer"`   // position of the correct option in this order
	Tokens  int    `json:"tokens"`   // prompt length in tokens, BOS included
	Top     int    `json:"top"`      // argmax token id over the whole vocabulary at the last position
	TopText string `json:"top_text"` // its text, e.g. " A"
	// Pred is the position whose letter Top is (either spelling), -1 when Top is no option's
	// letter: the paper's rule.
	Pred int `json:"pred"`
	// PredLetters is the position whose letter has the largest logit among the options.
	PredLetters    int  `json:"pred_letters"`
	Correct        bool `json:"correct"`         // Pred == Answer
	CorrectLetters bool `json:"correct_letters"` // PredLetters == Answer
	// Variant is the spelling of the letter tokens used for Logits and Probs: "space"
	// (" A", the usual continuation of "Answer:") or "bare" ("A"), whichever holds more
	// probability over this prompt's letters.
	Variant string    `json:"variant"`
	Logits  []float32 `json:"logits"` // per position: the letter token's logit
	Probs   []float32 `json:"probs"`  // per position: its probability (softmax over the whole vocabulary)
	// LogitDiff is logit(A) − logit(correct letter); 0 when the answer is A.
	LogitDiff float32 `json:"logit_diff"`
	// Lens is LogitDiff read from each block's output (blocks.L.hook_resid_post at the last
	// position, through ln_final with its own statistics and W_U): one value per layer, the
	// difference of the two target logits `mechlens lens --target` reports at
	// blocks.{L+1}.hook_resid_pre (the final residual for the last block), rounded to float32.
	Lens []float32 `json:"lens"`
	// Group is the item's group, when the data set gives one.
	Group string `json:"group,omitempty"`
}

// Scorer turns items into Records with one model and one prompt format.
type Scorer struct {
	m       *gpt2.Model
	an      *lens.Analyzer
	fm      *formatter
	permute string
	space   []int // [labels] id of " L", -1 when not one token
	bare    []int // [labels] id of "L", -1 when not one token
	// Budget is the most tokens one forward pass takes; a larger batch uses the matrix
	// kernels better but holds more activations.
	Budget int
	// MaxSeqs caps the sequences of one forward pass (each permutation continuing from a
	// prefix holds its own KV cache).
	MaxSeqs int
	// Share runs the common prefix of an item's permutations once and continues each
	// permutation from a copy of its KV cache.
	Share bool
	// KVMemory bounds the bytes of the KV caches alive at once (see maxCaches).
	KVMemory int64
	// Context, when set, cancels scoring between blocks of a forward pass.
	Context context.Context
}

// NewScorer prepares scoring of m's prompts in format f, each item shown in the orders of
// permute (PermuteNone, PermuteCyclic or PermuteAll).
func NewScorer(m *gpt2.Model, f Format, permute string) (*Scorer, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("audit: the model has no tokenizer")
	}
	if _, err := Permutations(2, permute); err != nil {
		return nil, err
	}
	fm, err := f.compile()
	if err != nil {
		return nil, err
	}
	if fm.bos && m.Tokenizer.EOT() < 0 {
		return nil, fmt.Errorf("audit: BOS asked for but the tokenizer has no <|endoftext|>")
	}
	s := &Scorer{m: m, an: lens.New(m), fm: fm, permute: permute, Budget: 2048, MaxSeqs: 64, Share: true, KVMemory: 2 << 30}
	for _, l := range fm.labels {
		sp, err1 := m.Tokenizer.TokenID(" " + l)
		b, err2 := m.Tokenizer.TokenID(l)
		if err1 != nil {
			sp = -1
		}
		if err2 != nil {
			b = -1
		}
		s.space = append(s.space, sp)
		s.bare = append(s.bare, b)
	}
	// An item of n options needs the first n labels in one spelling at least.
	usable := max(leading(s.space), leading(s.bare))
	s.space, s.bare = s.space[:usable], s.bare[:usable]
	if len(s.space) < 2 {
		return nil, fmt.Errorf("audit: labels %q: fewer than two are single tokens in this vocabulary", fm.labels)
	}
	return s, nil
}

// trial is one item in one order, ready to run.
type trial struct {
	item   int // index into the Score call's items
	perm   int
	order  []int
	answer int
	ids    []int
}

// prepared is one item's trials and the length of their common token prefix.
type prepared struct {
	trials []trial
	prefix int // tokens shared by every trial (at most the shortest length − 1); 0: none
	err    error
}

// prepare formats and tokenizes every order of item it.
func (s *Scorer) prepare(i int, it Item) prepared {
	n := len(it.Choices)
	if n > len(s.space) {
		return prepared{err: fmt.Errorf("audit: item %s: %d options, but only %d labels are single tokens", it.ID, n, len(s.space))}
	}
	perms, err := Permutations(n, s.permute)
	if err != nil {
		return prepared{err: fmt.Errorf("audit: item %s: %s", it.ID, strings.TrimPrefix(err.Error(), "audit: "))}
	}
	p := prepared{trials: make([]trial, len(perms))}
	for k, order := range perms {
		text, err := s.fm.render(it, order)
		if err != nil {
			return prepared{err: err}
		}
		ids := s.m.Tokenizer.Encode(text)
		if s.fm.bos {
			ids = append([]int{s.m.Tokenizer.EOT()}, ids...)
		}
		if len(ids) == 0 {
			return prepared{err: fmt.Errorf("audit: item %s: the prompt is empty", it.ID)}
		}
		if len(ids) > s.m.Config.NCtx {
			return prepared{err: fmt.Errorf("audit: item %s: the prompt has %d tokens, more than the model's context of %d", it.ID, len(ids), s.m.Config.NCtx)}
		}
		ans := 0
		for pos, j := range order {
			if j == it.Answer {
				ans = pos
			}
		}
		p.trials[k] = trial{item: i, perm: k, order: order, answer: ans, ids: ids}
	}
	if s.Share && len(p.trials) > 1 {
		p.prefix = len(p.trials[0].ids) - 1
		for _, t := range p.trials[1:] {
			p.prefix = min(p.prefix, len(t.ids)-1, commonPrefix(p.trials[0].ids, t.ids))
		}
	}
	return p
}

// leading counts the ids before the first missing one (-1).
func leading(ids []int) int {
	for i, id := range ids {
		if id < 0 {
			return i
		}
	}
	return len(ids)
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Score scores every item in every order. Records come in item order, then permutation
// order; Record.Item is first + the index in items. The numbers of an item do not depend on
// which items share its batch.
func (s *Scorer) Score(items []Item, first int) ([]Record, error) {
	preps := make([]prepared, len(items))
	tensor.ParallelFor(len(items), func(i int) { preps[i] = s.prepare(i, items[i]) })
	for _, p := range preps {
		if p.err != nil {
			return nil, p.err
		}
	}
	longest := 0
	for _, p := range preps {
		for _, t := range p.trials {
			longest = max(longest, len(t.ids))
		}
	}
	caches := s.maxCaches(longest)
	var out []Record
	for lo := 0; lo < len(preps); {
		// Take items while their tokens fit the budget (always at least one), keeping half
		// the caches for the continuations.
		hi, tokens, seqs, prefixes := lo, 0, 0, 0
		for hi < len(preps) {
			p := &preps[hi]
			tk, sq, pf := 0, len(p.trials), 0
			for _, t := range p.trials {
				tk += len(t.ids) - p.prefix
			}
			if p.prefix > 0 {
				pf = 1
			}
			if hi > lo && (tokens+tk > s.Budget || seqs+sq > s.MaxSeqs || prefixes+pf > caches/2) {
				break
			}
			tokens, seqs, prefixes = tokens+tk, seqs+sq, prefixes+pf
			hi++
		}
		recs, err := s.runBatch(preps[lo:hi], items, first, max(1, caches-prefixes))
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		lo = hi
	}
	return out, nil
}

// maxCaches is how many KV caches may be alive at once within KVMemory. A prefix's cache
// and its copies hold room for their item's longest trial (runBatch grows it to that, and
// Clone keeps the room), so tokens, the longest trial of the call, bounds each one.
func (s *Scorer) maxCaches(tokens int) int {
	c := s.m.Config
	per := int64(max(tokens, 1)) * int64(c.DModel) * int64(c.NLayers) * 2 * 4
	return int(max(2, s.KVMemory/per))
}

// runBatch runs the trials of a few items: the shared prefixes first (one KV cache per
// item), then every trial from its item's prefix (a copy of that cache; the item's last
// trial takes the cache itself), or from the start, in groups of at most group trials that
// continue from a cache.
func (s *Scorer) runBatch(preps []prepared, items []Item, first, group int) ([]Record, error) {
	var pre [][]int
	var kvs []*gpt2.KVCache
	for _, p := range preps {
		if p.prefix > 0 {
			pre = append(pre, p.trials[0].ids[:p.prefix])
			kv := s.m.NewKVCache()
			longest := 0
			for _, t := range p.trials {
				longest = max(longest, len(t.ids))
			}
			kv.Grow(longest) // its copies then take their trials' tokens in place
			kvs = append(kvs, kv)
		}
	}
	if len(pre) > 0 {
		res, err := s.m.Run(pre, gpt2.RunOptions{Logits: gpt2.LogitsNone, Past: kvs, Context: s.Context})
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		res.Release()
	}
	var jobs []job
	k := 0
	for i := range preps {
		p := &preps[i]
		var kv *gpt2.KVCache
		if p.prefix > 0 {
			kv = kvs[k]
			k++
		}
		for j := range p.trials {
			jobs = append(jobs, job{&p.trials[j], kv, j == len(p.trials)-1})
		}
	}
	out := make([]Record, 0, len(jobs))
	for lo := 0; lo < len(jobs); {
		hi, clones := lo, 0
		for hi < len(jobs) && (hi == lo || jobs[hi].from == nil || clones < group) {
			if jobs[hi].from != nil {
				clones++
			}
			hi++
		}
		recs, err := s.runGroup(jobs[lo:hi], items, first)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		lo = hi
	}
	return out, nil
}

// job is one trial with the prefix cache it continues from (nil: it runs from the start).
type job struct {
	t    *trial
	from *gpt2.KVCache
	own  bool // the item's last trial: it takes the cache itself instead of a copy
}

// runGroup runs trials in one forward pass and reads their records.
func (s *Scorer) runGroup(jobs []job, items []Item, first int) ([]Record, error) {
	seqs := make([][]int, len(jobs))
	var past []*gpt2.KVCache
	for i, j := range jobs {
		seqs[i] = j.t.ids
		if j.from == nil {
			continue
		}
		if past == nil {
			past = make([]*gpt2.KVCache, len(jobs))
		}
		seqs[i] = j.t.ids[j.from.Len():]
		if past[i] = j.from; !j.own {
			past[i] = j.from.Clone()
		}
	}
	L, D := s.m.Config.NLayers, s.m.Config.DModel
	resid := make([][]float32, len(seqs)) // [S][L*D] last position after each block
	for i := range resid {
		resid[i] = make([]float32, L*D)
	}
	hooks := make([]gpt2.Hook, L)
	for l := range hooks {
		hooks[l] = gpt2.Hook{Name: gpt2.ResidPost(l), Fn: func(a gpt2.Activation) {
			T := a.Shape[0]
			copy(resid[a.Seq][l*D:(l+1)*D], a.Data[(T-1)*D:T*D])
		}}
	}
	res, err := s.m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsLast, Past: past, Hooks: hooks, Context: s.Context})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	out := make([]Record, len(jobs))
	tensor.ParallelFor(len(jobs), func(i int) {
		lens := make([][]float32, L)
		for l := range lens {
			lens[l] = resid[i][l*D : (l+1)*D]
		}
		t := jobs[i].t
		out[i] = s.record(first+t.item, items[t.item].ID, t, res.Logits[i], lens)
		out[i].Group = items[t.item].Group
	})
	res.Release()
	return out, nil
}

// record reads one trial's outcome from its last-position logits [V] and its residual
// stream after each block (lens: [L][D]).
func (s *Scorer) record(item int, id string, t *trial, logits []float32, lens [][]float32) Record {
	n := len(t.order)
	top := 0
	for v, x := range logits {
		if x > logits[top] {
			top = v
		}
	}
	lse := tensor.LogSumExp(logits)
	prob := func(id int) float64 { return math.Exp(float64(logits[id]) - lse) }
	mass := func(ids []int) float64 {
		var m float64
		for _, id := range ids[:n] {
			if id < 0 {
				return -1
			}
			m += prob(id)
		}
		return m
	}
	ids, variant := s.space, "space"
	if mass(s.bare) > mass(s.space) {
		ids, variant = s.bare, "bare"
	}
	r := Record{
		Item: item, ID: id, Perm: t.perm, Order: t.order, Answer: t.answer, Tokens: len(t.ids),
		Top: top, TopText: s.m.Tokenizer.TokenText(top), Pred: -1, Variant: variant,
		Logits: make([]float32, n), Probs: make([]float32, n),
	}
	for pos := 0; pos < n; pos++ {
		if top == s.space[pos] || top == s.bare[pos] {
			r.Pred = pos
		}
		r.Logits[pos] = logits[ids[pos]]
		r.Probs[pos] = float32(prob(ids[pos]))
		if r.Logits[pos] > r.Logits[r.PredLetters] {
			r.PredLetters = pos
		}
	}
	r.Correct = r.Pred == t.answer
	r.CorrectLetters = r.PredLetters == t.answer
	r.LogitDiff = r.Logits[0] - r.Logits[t.answer]
	r.Lens = s.lens(lens, ids[0], ids[t.answer])
	return r
}

// lens returns logit(a) − logit(b) of the logit lens of the residual stream after every
// block.
func (s *Scorer) lens(resid [][]float32, a, b int) []float32 {
	out := make([]float32, len(resid))
	if a == b {
		return out
	}
	y := make([]float32, s.m.Config.DModel)
	ua, ub := s.m.UnembeddingVector(a), s.m.UnembeddingVector(b)
	for l, x := range resid {
		out[l] = float32(s.an.LensLogit(x, a, ua, y) - s.an.LensLogit(x, b, ub, y))
	}
	return out
}
