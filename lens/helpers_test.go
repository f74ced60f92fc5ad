package lens

import (
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/weights"
)

const (
	tinyDir       = "../testdata/tiny-gpt2"             // GPT-2 vocabulary, 2 layers, 4 heads, D 32
	smallVocabDir = "../testdata/tiny-gpt2-small-vocab" // V 1000, untied lm_head, no tokenizer
	// mcqText is the reference prompt "mcq" of the fixture.
	mcqText = "Question: Then in the morning, Lindsey and Kristen had a long argument, and afterwards Lindsey said to? Answer Choices: A: Lindsey B: Kristen Answer:"
)

// analysisSteps is the anchored-bias paper's weight processing.
var analysisSteps = []string{gpt2.FoldLN, gpt2.CenterWritingWeights, gpt2.CenterUnembed}

// models memoizes loadModel: analyses never change weights, so tests share them.
var models sync.Map // dir + steps → *gpt2.Model

// loadModel loads a fixture, processed with steps.
func loadModel(t testing.TB, dir string, steps ...string) *gpt2.Model {
	t.Helper()
	key := dir + "|" + strings.Join(steps, ",")
	if m, ok := models.Load(key); ok {
		return m.(*gpt2.Model)
	}
	m, err := gpt2.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) > 0 {
		if err := m.Process(steps...); err != nil {
			t.Fatal(err)
		}
	}
	models.Store(key, m)
	return m
}

// weightings are the two weight settings every identity is checked on.
var weightings = []struct {
	name  string
	steps []string
}{{"raw", nil}, {"processed", analysisSteps}}

func tokenID(t testing.TB, m *gpt2.Model, text string) int {
	t.Helper()
	id, err := m.Tokenizer.TokenID(text)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func trace(t testing.TB, a *Analyzer, ids []int, o TraceOptions) *Trace {
	t.Helper()
	tr, err := a.Trace(ids, o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// reference opens a stored reference activation file of the tiny fixture.
func reference(t testing.TB, name string) *weights.File {
	t.Helper()
	f, err := weights.OpenSafetensors(filepath.Join(tinyDir, "reference", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// refRow returns row pos of a stored [T, w] activation in float64.
func refRow(t testing.TB, f *weights.File, name string, pos int) []float64 {
	t.Helper()
	d, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Info(name)
	w := info.Shape[len(info.Shape)-1]
	return f64(d[pos*w : (pos+1)*w])
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// refLnFinal is ln_final in float64: (v − mean)/s·w + b, s the vector's own √(var + eps)
// when scale is 0.
func refLnFinal(m *gpt2.Model, v []float64, scale float64) []float64 {
	var mean float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if scale == 0 {
		var ss float64
		for _, x := range v {
			ss += (x - mean) * (x - mean)
		}
		scale = math.Sqrt(ss/float64(len(v)) + float64(m.Config.LNEps))
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = (x-mean)/scale*float64(m.Params.LnFW[i]) + float64(m.Params.LnFB[i])
	}
	return out
}

// refLogit is W_U[:, t]·x + b_U[t] in float64.
func refLogit(m *gpt2.Model, x []float64, t int) float64 {
	u := m.UnembeddingVector(t)
	var s float64
	for i, v := range x {
		s += float64(u[i]) * v
	}
	if m.Params.LMHeadB != nil {
		s += float64(m.Params.LMHeadB[t])
	}
	return s
}

// refLogits is every logit of x in float64.
func refLogits(m *gpt2.Model, x []float64) []float64 {
	out := make([]float64, m.Config.DVocab)
	for t := range out {
		out[t] = refLogit(m, x, t)
	}
	return out
}

// refLogSoftmax returns log-probabilities of logits.
func refLogSoftmax(x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v - lse
	}
	return out
}

func closeTo(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if d := math.Abs(got - want); !(d <= tol) {
		t.Errorf("%s = %.7g, want %.7g (|diff| %.3g > %.1g)", what, got, want, d, tol)
	}
}

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

func add(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}
