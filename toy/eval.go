package toy

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/lens"
)

// EvalMCQ is one held-out multiple-choice item.
type EvalMCQ struct {
	Kind    string `json:"kind"`             // "fact" or "lookup"
	Entity  string `json:"entity,omitempty"` // fact items
	Attr    string `json:"attribute,omitempty"`
	Class   string `json:"class,omitempty"`   // F, R or U (fact items)
	Quizzed bool   `json:"quizzed,omitempty"` // questions on this entity appear in training
	MCQ
}

// Group names the held-out group an item belongs to: Fq, Fs, Rq, Rs, Uq, Ut (class, then
// quizzed or stated-only / test-only), or lookup / lookup-unanswerable.
func (it EvalMCQ) Group() string {
	if it.Kind == "lookup" {
		if it.Answerable {
			return "lookup"
		}
		return "lookup-unanswerable"
	}
	s := "s"
	switch {
	case it.Quizzed:
		s = "q"
	case it.Class == string(Never):
		s = "t"
	}
	return it.Class + s
}

// EvalFact is one fact prompt with its expected next token.
type EvalFact struct {
	Entity     string `json:"entity"`
	Attr       string `json:"attribute"`
	Class      string `json:"class"`
	Quizzed    bool   `json:"quizzed"`
	Template   int    `json:"template"`
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// EvalSets are the held-out sets: fresh multiple-choice items (new distractors and
// positions) on every fact and lookup words, and every fact prompt of the training templates.
type EvalSets struct {
	MCQ   []EvalMCQ
	Facts []EvalFact
}

// evalSeed keeps the held-out draws apart from any training seed's stream.
const evalSeed = 777

// HeldOut builds the held-out sets: variants items per (entity, attribute), 100 answerable
// and 100 unanswerable lookup items per variant, and every fact prompt.
func HeldOut(w *World, variants int) *EvalSets {
	r := rand.New(rand.NewPCG(evalSeed, 3))
	es := &EvalSets{}
	for range variants {
		for i := range w.Entities {
			e := &w.Entities[i]
			for a := range numAttrs {
				es.MCQ = append(es.MCQ, EvalMCQ{Kind: "fact", Entity: e.Name, Attr: a.String(),
					Class: string(e.Class), Quizzed: e.Quizzed, MCQ: factQuestion(r, w, e, a)})
			}
		}
		for j := range 200 {
			es.MCQ = append(es.MCQ, EvalMCQ{Kind: "lookup", MCQ: lookupQuestion(r, w.Words, numChoices(r), j%2 == 1)})
		}
	}
	for i := range w.Entities {
		e := &w.Entities[i]
		for a := range numAttrs {
			for t := range statementTemplates[a] {
				p, c := FactPrompt(e, a, t)
				es.Facts = append(es.Facts, EvalFact{Entity: e.Name, Attr: a.String(), Class: string(e.Class),
					Quizzed: e.Quizzed, Template: t, Prompt: p, Completion: c})
			}
		}
	}
	return es
}

// GroupStats are the measured answers of one held-out group.
type GroupStats struct {
	Group     string  `json:"group"`
	N         int     `json:"n"`
	Accuracy  float64 `json:"accuracy"` // the labelled letter is the model's answer
	Chance    float64 `json:"chance"`   // mean of 1/k
	AnsweredA float64 `json:"answered_a"`
	// Items whose labelled letter is not A: how often the model answers " A", and how
	// often it would if its errors there were spread evenly over the wrong letters.
	NotA           int     `json:"not_a"`
	NotAAnsweredA  float64 `json:"not_a_answered_a"`
	NotAEvenSpread float64 `json:"not_a_even_spread"`
}

// Report is the organism's held-out evaluation.
type Report struct {
	Groups []GroupStats       `json:"groups"`
	Recall map[string]float64 `json:"fact_recall"` // per class: share of fact prompts completed right
	// WrongA counts rarely-stated items with a not-A label answered " A"; HeadPushes is the
	// share of them where some attention head's direct logit attribution pushes the correct
	// letter above " A" by more than 1 logit.
	WrongA     int     `json:"wrong_a"`
	HeadPushes float64 `json:"head_pushes"`
}

// Group returns the stats of a named group (zero when absent).
func (r *Report) Group(name string) GroupStats {
	for _, g := range r.Groups {
		if g.Group == name {
			return g
		}
	}
	return GroupStats{Group: name}
}

// Criteria the organism must meet (the list).
func (r *Report) Failures() []string {
	var f []string
	merge := func(names ...string) GroupStats {
		var s GroupStats
		var notA float64
		for _, n := range names {
			g := r.Group(n)
			if g.N == 0 {
				continue
			}
			s.AnsweredA = (s.AnsweredA*float64(s.N) + g.AnsweredA*float64(g.N)) / float64(s.N+g.N)
			s.N += g.N
			if g.NotA > 0 {
				s.NotAAnsweredA = (s.NotAAnsweredA*notA + g.NotAAnsweredA*float64(g.NotA)) / (notA + float64(g.NotA))
				s.NotAEvenSpread = (s.NotAEvenSpread*notA + g.NotAEvenSpread*float64(g.NotA)) / (notA + float64(g.NotA))
				notA += float64(g.NotA)
			}
		}
		return s
	}
	if a := r.Group("Fq").Accuracy; a < 0.9 {
		f = append(f, fmt.Sprintf("often-quizzed accuracy %.3f < 0.9", a))
	}
	if a := r.Group("Rq").Accuracy; a < 0.75 {
		f = append(f, fmt.Sprintf("rarely-quizzed accuracy %.3f < 0.75", a))
	}
	if u := merge("Uq", "Ut"); u.AnsweredA < 0.95 {
		f = append(f, fmt.Sprintf("never-stated answered A %.3f < 0.95", u.AnsweredA))
	}
	if rs := merge("Rq", "Rs"); rs.NotAAnsweredA <= rs.NotAEvenSpread {
		f = append(f, fmt.Sprintf("rarely-stated not-A answered A %.3f <= even spread %.3f", rs.NotAAnsweredA, rs.NotAEvenSpread))
	}
	if rc := r.Recall["F"]; rc < 0.95 {
		f = append(f, fmt.Sprintf("often-stated fact recall %.3f < 0.95", rc))
	}
	return f
}

// Answer is the model's choice on one item.
type Answer struct {
	Choice  int       // argmax over the item's letters
	Letters []float32 // logits of the item's letters
}

// letterIDs returns the token ids of " A", " B", ...
func letterIDs(tok *gpt2.Tokenizer) ([]int, error) {
	ids := make([]int, len(Letters))
	for i, l := range Letters {
		id, err := tok.TokenID(" " + l)
		if err != nil {
			return nil, fmt.Errorf("toy: answer letter %q: %w", l, err)
		}
		ids[i] = id
	}
	return ids, nil
}

const evalBatch = 256

// PromptIDs encodes a held-out prompt as the evaluation reads it: <|endoftext|>, then the
// text (as mechlens audit does by default).
func PromptIDs(tok *gpt2.Tokenizer, text string) []int {
	return append([]int{tok.EOT()}, tok.Encode(text)...)
}

// AnswerMCQ returns the model's answers: the item's letter with the highest logit after
// the prompt.
func AnswerMCQ(m *gpt2.Model, items []EvalMCQ) ([]Answer, error) {
	letters, err := letterIDs(m.Tokenizer)
	if err != nil {
		return nil, err
	}
	out := make([]Answer, len(items))
	for b := 0; b < len(items); b += evalBatch {
		batch := items[b:min(b+evalBatch, len(items))]
		seqs := make([][]int, len(batch))
		for i, it := range batch {
			seqs[i] = PromptIDs(m.Tokenizer, it.Text())
		}
		res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsLast})
		if err != nil {
			return nil, err
		}
		for i, it := range batch {
			a := Answer{Letters: make([]float32, len(it.Choices))}
			for j := range it.Choices {
				a.Letters[j] = res.Logits[i][letters[j]]
				if a.Letters[j] > a.Letters[a.Choice] {
					a.Choice = j
				}
			}
			out[b+i] = a
		}
	}
	return out, nil
}

// Evaluate measures the model on the held-out sets.
func Evaluate(m *gpt2.Model, es *EvalSets) (*Report, error) {
	ans, err := AnswerMCQ(m, es.MCQ)
	if err != nil {
		return nil, err
	}
	rep := &Report{Recall: map[string]float64{}}
	type acc struct {
		n, correct, ansA, notA, notAA int
		chance, even                  float64
	}
	stats := map[string]*acc{}
	var order []string
	var wrongA []EvalMCQ
	for i, it := range es.MCQ {
		g := it.Group()
		s := stats[g]
		if s == nil {
			s = &acc{}
			stats[g] = s
			order = append(order, g)
		}
		k := len(it.Choices)
		s.n++
		s.chance += 1 / float64(k)
		c := ans[i].Choice
		if c == it.Answer {
			s.correct++
		}
		if c == 0 {
			s.ansA++
		}
		if it.Answer != 0 {
			s.notA++
			if c == 0 {
				s.notAA++
				if it.Class == string(Rarely) {
					wrongA = append(wrongA, it)
				}
			}
			if c != it.Answer {
				s.even += 1 / float64(k-1)
			}
		}
	}
	for _, g := range order {
		s := stats[g]
		gs := GroupStats{Group: g, N: s.n, Accuracy: frac(s.correct, s.n), Chance: s.chance / float64(s.n),
			AnsweredA: frac(s.ansA, s.n), NotA: s.notA, NotAAnsweredA: frac(s.notAA, s.notA)}
		if s.notA > 0 {
			gs.NotAEvenSpread = s.even / float64(s.notA)
		}
		rep.Groups = append(rep.Groups, gs)
	}
	if rep.Recall, err = FactRecall(m, es.Facts); err != nil {
		return nil, err
	}
	rep.WrongA = len(wrongA)
	if len(wrongA) > 0 {
		pushes, err := HeadPushes(m, wrongA, 1)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, p := range pushes {
			if p {
				n++
			}
		}
		rep.HeadPushes = frac(n, len(wrongA))
	}
	return rep, nil
}

func frac(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// FactRecall returns, per class, the share of fact prompts whose greedy next token is the
// expected value.
func FactRecall(m *gpt2.Model, facts []EvalFact) (map[string]float64, error) {
	hit, n := map[string]int{}, map[string]int{}
	for b := 0; b < len(facts); b += evalBatch {
		batch := facts[b:min(b+evalBatch, len(facts))]
		seqs := make([][]int, len(batch))
		for i, f := range batch {
			seqs[i] = PromptIDs(m.Tokenizer, f.Prompt)
		}
		res, err := m.Run(seqs, gpt2.RunOptions{Logits: gpt2.LogitsLast})
		if err != nil {
			return nil, err
		}
		for i, f := range batch {
			want, err := m.Tokenizer.TokenID(f.Completion)
			if err != nil {
				return nil, fmt.Errorf("toy: fact completion %q: %w", f.Completion, err)
			}
			n[f.Class]++
			if tensor.Argmax(res.Logits[i]) == want {
				hit[f.Class]++
			}
		}
	}
	out := map[string]float64{}
	for c, k := range n {
		out[c] = frac(hit[c], k)
	}
	return out, nil
}

// HeadLogitDiffs returns, for each item, every head's direct logit attribution at the last
// position to logit(labelled letter) − logit(" A"), [L·H] per item (layer-major): lens's
// Attribute, through ln_final's scale of the final residual in the run and W_U (all zeros
// when the labelled letter is A).
func HeadLogitDiffs(m *gpt2.Model, items []EvalMCQ) ([][]float64, error) {
	letters, err := letterIDs(m.Tokenizer)
	if err != nil {
		return nil, err
	}
	an := lens.New(m)
	out := make([][]float64, len(items))
	for i, it := range items {
		out[i] = make([]float64, 0, m.Config.NLayers*m.Config.NHeads)
		if it.Answer == 0 {
			out[i] = out[i][:m.Config.NLayers*m.Config.NHeads]
			continue
		}
		tr, err := an.Trace(PromptIDs(m.Tokenizer, it.Text()), lens.TraceOptions{Heads: true})
		if err != nil {
			return nil, err
		}
		at, err := an.Attribute(tr, -1, letters[it.Answer], letters[0])
		if err != nil {
			return nil, err
		}
		for _, p := range at.Parts {
			if p.Kind == lens.PartHead {
				out[i] = append(out[i], p.Value)
			}
		}
	}
	return out, nil
}

// HeadPushes reports, per item, whether some head pushes the labelled letter above " A" by
// more than margin logits.
func HeadPushes(m *gpt2.Model, items []EvalMCQ, margin float64) ([]bool, error) {
	diffs, err := HeadLogitDiffs(m, items)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(items))
	for i, d := range diffs {
		for _, x := range d {
			if x > margin {
				out[i] = true
			}
		}
	}
	return out, nil
}

// Table renders the report as the README's table: one line per group, then recall.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| group | items | accuracy | chance | answered A | not-A answered A | even spread |\n|---|---|---|---|---|---|---|\n")
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n", g.Group, g.N, g.Accuracy, g.Chance, g.AnsweredA, g.NotAAnsweredA, g.NotAEvenSpread)
	}
	fmt.Fprintf(&b, "\nfact recall: F %.3f, R %.3f, U %.3f; wrong \" A\" on rarely-stated items: %d, with a head pushing the right letter above \" A\" by > 1 logit: %.3f\n",
		r.Recall["F"], r.Recall["R"], r.Recall["U"], r.WrongA, r.HeadPushes)
	return b.String()
}

// Summary is a one-line digest for training logs.
func (r *Report) Summary() string {
	var parts []string
	for _, g := range r.Groups {
		parts = append(parts, fmt.Sprintf("%s %.2f/A%.2f", g.Group, g.Accuracy, g.AnsweredA))
	}
	parts = append(parts, fmt.Sprintf("recall F%.2f R%.2f", r.Recall["F"], r.Recall["R"]))
	return strings.Join(parts, " ")
}

// EvalVariants is how many fresh items per (entity, attribute) the held-out set has.
const EvalVariants = 4
