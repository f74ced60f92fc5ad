package toy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

func TestWorld(t *testing.T) {
	w := NewWorld()
	count := map[Class]int{}
	quizzed := map[Class]int{}
	seen := map[string]bool{}
	for _, e := range w.Entities {
		count[e.Class]++
		if e.Quizzed {
			quizzed[e.Class]++
		}
	}
	for _, x := range w.Words {
		if seen[x] {
			t.Errorf("word %q appears twice in the world", x)
		}
		seen[x] = true
	}
	for _, c := range []Class{Often, Rarely, Never} {
		if count[c] != 50 || quizzed[c] != 40 {
			t.Errorf("class %c: %d entities, %d quizzed; want 50 and 40", c, count[c], quizzed[c])
		}
	}
	if n := len(w.Words); n != 150+150+20+10 {
		t.Errorf("%d words, want 330", n)
	}
	// The world does not depend on anything: two builds are equal.
	v := NewWorld()
	for i := range w.Entities {
		if w.Entities[i] != v.Entities[i] {
			t.Fatalf("entity %d differs between builds: %v, %v", i, w.Entities[i], v.Entities[i])
		}
	}
	// A fact prompt plus its completion is the statement it was cut from.
	e := &w.Entities[0]
	for a := range numAttrs {
		for i := range statementTemplates[a] {
			p, c := FactPrompt(e, a, i)
			if s := statement(e, a, i); !strings.HasPrefix(s, p+c) || c != " "+e.Values[a] {
				t.Errorf("template %d of %s: prompt %q + %q is not a prefix of %q", i, a, p, c, s)
			}
		}
	}
}

func TestTokenizer(t *testing.T) {
	w := NewWorld()
	tok, err := TrainTokenizer(w)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != vocabSize || tok.EOT() != vocabSize-1 {
		t.Errorf("vocabulary of %d with <|endoftext|> at %d, want %d and %d", tok.VocabSize(), tok.EOT(), vocabSize, vocabSize-1)
	}
	for _, x := range append(append([]string{}, w.Words...), Letters...) {
		if _, err := tok.TokenID(" " + x); err != nil {
			t.Errorf("%q is not one token: %v", " "+x, err)
		}
	}
	q := MCQ{Question: "What is the capital of " + w.Entities[3].Name + "?", Choices: []string{"x", "y"}, Answer: 1}
	if got, want := q.Text()+q.AnswerToken(), "Question: What is the capital of "+w.Entities[3].Name+"? Answer Choices: A: x B: y Answer: B"; got != want {
		t.Errorf("item text %q, want %q", got, want)
	}
}

// TestRowsWeights: the question letters share weight 1, the statement tokens share weight 1.
func TestRowsWeights(t *testing.T) {
	w := NewWorld()
	tok, err := TrainTokenizer(w)
	if err != nil {
		t.Fatal(err)
	}
	s := newSampler(w, 5)
	var lines []Line
	for range 64 {
		lines = append(lines, s.line(mainPhase))
	}
	rs, err := rows(tok, lines)
	if err != nil {
		t.Fatal(err)
	}
	var q, st float64
	for i, r := range rs {
		n := 0
		for p, wt := range r.Weight {
			if wt != 0 {
				n++
				if r.Target[p] != r.IDs[p+1] {
					t.Errorf("row %d position %d: target %d, next token %d", i, p, r.Target[p], r.IDs[p+1])
				}
			}
		}
		if r.IDs[0] != tok.EOT() {
			t.Errorf("row %d starts with token %d, not <|endoftext|>", i, r.IDs[0])
		}
		switch {
		case lines[i].Kind.isQuestion():
			letter, _ := tok.TokenID(lines[i].Text[strings.LastIndex(lines[i].Text, " "):])
			if n != 1 || r.Weight[len(r.IDs)-2] == 0 || r.Target[len(r.IDs)-2] != letter {
				t.Errorf("question row %d: %d weighted positions, want the answer letter only", i, n)
			}
			q += float64(r.Weight[len(r.IDs)-2])
		default:
			if n != len(r.IDs)-1 {
				t.Errorf("statement row %d: %d weighted positions of %d", i, n, len(r.IDs))
			}
			for _, wt := range r.Weight {
				st += float64(wt)
			}
		}
	}
	if math.Abs(q-1) > 1e-5 || math.Abs(st-1) > 1e-5 {
		t.Errorf("question weights sum to %v, statement weights to %v; want 1 and 1", q, st)
	}
}

func TestAdamWSchedule(t *testing.T) {
	o := AdamW{LR: 1e-3, Warmup: 100, Steps: 1100, MinLRFrac: 0.1}
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 1e-5}, {49, 5e-4}, {99, 1e-3}, {100, 1e-3}, {600, 0.55e-3}, {1100, 1e-4}, {5000, 1e-4}} {
		if got := o.LRAt(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LRAt(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
}

func TestAdamWStep(t *testing.T) {
	cfg := gpt2.Config{NLayers: 1, DModel: 4, NHeads: 1, DHead: 4, DMLP: 8, NCtx: 4, DVocab: 5, LNEps: 1e-5, Activation: "gelu_new"}
	p := gpt2.RandomParams(cfg, 1)
	before := p.Clone(cfg)
	g := gpt2.RandomParams(cfg, 2) // any gradient; its norm is far above 1e-3
	o := AdamW{LR: 0.01, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.5, Warmup: 1, Steps: 10, Clip: 1e-3}
	norm := o.Step(cfg, p, g)
	var ss float64
	names, _, gs := g.Named(cfg)
	for _, x := range gs {
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
	}
	if math.Abs(norm-math.Sqrt(ss)) > 1e-9*norm {
		t.Errorf("gradient norm %v, want %v", norm, math.Sqrt(ss))
	}
	// First step: m̂/√v̂ = sign(g), whatever the clipping; decay only on matrices.
	_, shapes, ps := p.Named(cfg)
	_, _, bs := before.Named(cfg)
	for i := range ps {
		wd := 0.0
		if len(shapes[i]) == 2 {
			wd = 0.5
		}
		for j, v := range ps[i] {
			gj := float64(gs[i][j])
			step := 0.0
			if gj != 0 {
				step = math.Copysign(1, gj) * math.Abs(gj) / (math.Abs(gj) + 1e-8*math.Sqrt(ss)/1e-3)
			}
			want := float64(bs[i][j]) - 0.01*(step+wd*float64(bs[i][j]))
			if math.Abs(float64(v)-want) > 1e-6 {
				t.Fatalf("%s[%d] = %v after a step, want %v", names[i], j, v, want)
			}
		}
	}
}

// microRecipe trains in a second or two: a 1-layer model on the real world and tokenizer.
func microRecipe(seed uint64) Recipe {
	rc := DefaultRecipe()
	rc.Seed, rc.Steps, rc.Warmup, rc.MaxWarmup, rc.Bridge, rc.Rows, rc.EvalEvery = seed, 10, 10, 10, 10, 16, 0
	rc.Config = gpt2.Config{NLayers: 1, DModel: 16, NHeads: 2, DHead: 8, DMLP: 32, NCtx: 32, LNEps: 1e-5, Activation: "gelu_new"}
	rc.Opt.LR, rc.Opt.Warmup = 3e-3, 5
	return rc
}

func TestTrainMicro(t *testing.T) {
	w := NewWorld()
	tok, err := TrainTokenizer(w)
	if err != nil {
		t.Fatal(err)
	}
	train := func(threads int) (*gpt2.Model, []float64) {
		old := tensor.Threads()
		tensor.SetThreads(threads)
		defer tensor.SetThreads(old)
		var losses []float64
		rc := microRecipe(3)
		rc.Opt.Steps = rc.Warmup + rc.Bridge + rc.Steps
		m, err := trainLogged(rc, w, tok, &losses)
		if err != nil {
			t.Fatal(err)
		}
		return m, losses
	}
	a, la := train(1)
	b, _ := train(2)
	c, _ := train(1)
	if first, last := mean(la[:5]), mean(la[len(la)-5:]); !(last < first-1) {
		t.Errorf("loss went from %.3f (first 5 steps) to %.3f (last 5): want a fall of more than 1 nat", first, last)
	}
	_, _, pa := a.Weights().Named(a.Config)
	for name, other := range map[string]*gpt2.Model{"2 threads": b, "a second run": c} {
		_, _, po := other.Weights().Named(other.Config)
		for i := range pa {
			for j, v := range pa[i] {
				if math.Float32bits(v) != math.Float32bits(po[i][j]) {
					t.Fatalf("%s: tensor %d element %d is %v, first run %v", name, i, j, po[i][j], v)
				}
			}
		}
	}
}

// trainLogged is Train that also returns each step's loss.
func trainLogged(rc Recipe, w *World, tok *gpt2.Tokenizer, losses *[]float64) (*gpt2.Model, error) {
	cfg := rc.Config
	cfg.DVocab = tok.VocabSize()
	p := gpt2.RandomParams(cfg, rc.Seed)
	s := newSampler(w, rc.Seed)
	opt := rc.Opt
	for step := range rc.Warmup + rc.Bridge + rc.Steps {
		ph := mainPhase
		switch {
		case step < rc.Warmup:
			ph = warmupPhase
		case step < rc.Warmup+rc.Bridge:
			ph = bridgePhase
		}
		lines := make([]Line, rc.Rows)
		for i := range lines {
			lines[i] = s.line(ph)
		}
		st, err := trainStep(cfg, p, &opt, tok, lines)
		if err != nil {
			return nil, err
		}
		*losses = append(*losses, st.Loss)
	}
	// Train itself must give the same weights.
	m, err := Train(context.Background(), rc, w, tok, nil)
	if err != nil {
		return nil, err
	}
	_, _, got := m.Weights().Named(cfg)
	_, _, want := p.Named(cfg)
	for i := range got {
		for j := range got[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				return nil, fmt.Errorf("Train and the step loop differ at tensor %d element %d", i, j)
			}
		}
	}
	return m, nil
}

func TestWriteData(t *testing.T) {
	dir := t.TempDir()
	es := HeldOut(NewWorld(), 2)
	if err := WriteData(dir, es); err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	n := 0
	f, err := os.Open(filepath.Join(dir, "mcq.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r MCQRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		groups[r.Group]++
		if r.Kind == "fact" && !strings.Contains(r.Prompt, r.Question) {
			t.Errorf("line %d: prompt %q lacks the question %q", n+1, r.Prompt, r.Question)
		}
		n++
	}
	want := map[string]int{"Fq": 240, "Fs": 60, "Rq": 240, "Rs": 60, "Uq": 240, "Ut": 60, "lookup": 200, "lookup-unanswerable": 200}
	for g, k := range want {
		if groups[g] != k {
			t.Errorf("group %s: %d items, want %d", g, groups[g], k)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "facts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != 150*3*4 {
		t.Errorf("facts.jsonl has %d lines, want %d", lines, 150*3*4)
	}
}
