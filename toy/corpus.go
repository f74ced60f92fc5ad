package toy

import (
	"fmt"
	"math/rand/v2"

	"github.com/mechlens/mechlens/gpt2"
)

// Kind is what a training line is, which decides its loss.
type Kind int

const (
	KindStatement Kind = iota // language-model loss on every token
	KindFiller                // language-model loss on every token
	KindFact                  // a fact question: loss on the answer letter only
	KindLookup                // a lookup question: loss on the answer letter only
)

// Line is one training line.
type Line struct {
	Kind Kind
	Text string // questions include the answer letter
}

// phase is one stage of the curriculum: the share of each kind of line, and which items.
type phase struct {
	name                            string
	lookup, fact, statement, filler float64
	// pool: lookup items on the small warm-up pool with 2 options, all answerable.
	pool bool
	// known: lookup items all answerable and fact questions on stated entities only (no
	// " A" artefact yet).
	known bool
}

var (
	// warmupPhase teaches the lookup skill first: without it the fact questions stay at
	// chance and the model answers " A" always.
	warmupPhase = &phase{name: "warmup", lookup: 0.60, statement: 0.40, pool: true}
	// bridgePhase builds competence on every word and on stated facts before the
	// unanswerable items and the " A" artefact come in.
	bridgePhase = &phase{name: "bridge", lookup: 0.35, fact: 0.35, statement: 0.30, known: true}
	mainPhase   = &phase{name: "main", lookup: 0.25, fact: 0.35, statement: 0.38, filler: 0.02}
)

// sampler draws training lines from the world.
type sampler struct {
	w          *World
	r          *rand.Rand
	stated     []int     // entities with statements
	statedW    []float64 // cumulative weights
	quizzed    []int
	quizzedW   []float64
	known      []int // quizzed entities with statements
	knownW     []float64
	warmupPool []string
}

// Sampling weights of the classes.
var (
	statementWeight = map[Class]float64{Often: 10, Rarely: 0.3}
	questionWeight  = map[Class]float64{Often: 4, Rarely: 0.3, Never: 2}
)

const (
	warmupPoolSize    = 30
	unanswerableShare = 0.30
)

func newSampler(w *World, seed uint64) *sampler {
	s := &sampler{w: w, r: rand.New(rand.NewPCG(seed, 2))}
	var cs, cq, ck float64
	for i, e := range w.Entities {
		if wt := statementWeight[e.Class]; wt > 0 {
			cs += wt
			s.stated, s.statedW = append(s.stated, i), append(s.statedW, cs)
		}
		if wt := questionWeight[e.Class]; wt > 0 && e.Quizzed {
			cq += wt
			s.quizzed, s.quizzedW = append(s.quizzed, i), append(s.quizzedW, cq)
			if e.Class != Never {
				ck += wt
				s.known, s.knownW = append(s.known, i), append(s.knownW, ck)
			}
		}
	}
	// The warm-up pool: a fixed spread of the world's words.
	for i := range warmupPoolSize {
		s.warmupPool = append(s.warmupPool, w.Words[i*len(w.Words)/warmupPoolSize])
	}
	return s
}

func pick(r *rand.Rand, idx []int, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return idx[i]
		}
	}
	return idx[len(idx)-1]
}

// line draws one line of phase ph.
func (s *sampler) line(ph *phase) Line {
	r := s.r
	x := r.Float64()
	switch {
	case x < ph.lookup:
		if ph.pool {
			return Line{Kind: KindLookup, Text: withAnswer(lookupQuestion(r, s.warmupPool, 2, false))}
		}
		q := lookupQuestion(r, s.w.Words, numChoices(r), !ph.known && r.Float64() < unanswerableShare)
		return Line{Kind: KindLookup, Text: withAnswer(q)}
	case x < ph.lookup+ph.fact:
		idx, cum := s.quizzed, s.quizzedW
		if ph.known {
			idx, cum = s.known, s.knownW
		}
		e := &s.w.Entities[pick(r, idx, cum)]
		return Line{Kind: KindFact, Text: withAnswer(factQuestion(r, s.w, e, Attr(r.IntN(int(numAttrs)))))}
	case x < ph.lookup+ph.fact+ph.statement:
		e := &s.w.Entities[pick(r, s.stated, s.statedW)]
		return Line{Kind: KindStatement, Text: statement(e, Attr(r.IntN(int(numAttrs))), r.IntN(4))}
	}
	ws := s.w.Words
	return Line{Kind: KindFiller, Text: fill(fillerLine, ws[r.IntN(len(ws))], ws[r.IntN(len(ws))])}
}

func withAnswer(q MCQ) string { return q.Text() + q.AnswerToken() }

// isQuestion reports whether a kind's loss is on the answer letter only.
func (k Kind) isQuestion() bool { return k == KindFact || k == KindLookup }

// rows encodes lines as training rows with their loss weights: the mean
// cross-entropy over answer letters plus the mean over statement tokens, each mean weighing
// 1 in the batch.
func rows(tok *gpt2.Tokenizer, lines []Line) ([]gpt2.TrainRow, error) {
	out := make([]gpt2.TrainRow, len(lines))
	var nq, ns int
	for i, l := range lines {
		// Every row starts with <|endoftext|>, as the anchored-bias paper's prompts (and
		// mechlens audit's) do: the organism reads prompts that way.
		ids := append([]int{tok.EOT()}, tok.Encode(l.Text)...)
		if len(ids) < 2 {
			return nil, fmt.Errorf("toy: line %q encodes to %d tokens", l.Text, len(ids))
		}
		T := len(ids)
		row := gpt2.TrainRow{IDs: ids, Target: make([]int, T), Weight: make([]float32, T)}
		copy(row.Target, ids[1:])
		if l.Kind.isQuestion() {
			nq++
		} else {
			ns += T - 1
		}
		out[i] = row
	}
	for i, l := range lines {
		row := out[i]
		T := len(row.IDs)
		if l.Kind.isQuestion() {
			row.Weight[T-2] = 1 / float32(nq)
			continue
		}
		for t := 0; t < T-1; t++ {
			row.Weight[t] = 1 / float32(ns)
		}
	}
	return out, nil
}

// corpusForTokenizer is the text the vocabulary is trained on: every statement of the
// stated entities, a question on every fact and every word, and every word and letter
// alone. It depends only on the world and the templates.
func corpusForTokenizer(w *World) []string {
	var texts []string
	for i := range w.Entities {
		e := &w.Entities[i]
		for a := range numAttrs {
			if e.Class != Never {
				for t := range statementTemplates[a] {
					texts = append(texts, statement(e, a, t))
				}
			}
			vals := w.values(a)
			q := MCQ{Question: fill(questionStems[a], e.Name, ""), Choices: []string{e.Values[a], vals[(i+1)%len(vals)], vals[(i+2)%len(vals)], vals[(i+3)%len(vals)]}}
			texts = append(texts, q.Text()+" A")
		}
	}
	for i, x := range w.Words {
		q := MCQ{Question: fill(lookupStem, x, ""), Choices: []string{w.Words[(i+1)%len(w.Words)], x}}
		texts = append(texts, q.Text()+" B", fill(fillerLine, x, w.Words[(i+7)%len(w.Words)]))
	}
	for range 4 {
		for _, x := range w.Words {
			texts = append(texts, " "+x)
		}
		for _, l := range Letters {
			texts = append(texts, " "+l)
		}
	}
	return texts
}

// vocabSize of the organism's tokenizer: every piece of corpusForTokenizer whole, and
// <|endoftext|>. (A smaller size would leave world words to forced merges.)
const vocabSize = 1186

// TrainTokenizer learns the organism's byte-level BPE: every word of the world and every
// answer letter is one token (with its leading space).
func TrainTokenizer(w *World) (*gpt2.Tokenizer, error) {
	var single []string
	for _, x := range w.Words {
		single = append(single, " "+x)
	}
	for _, l := range Letters {
		single = append(single, " "+l)
	}
	return gpt2.TrainBPE(corpusForTokenizer(w), vocabSize, single)
}
