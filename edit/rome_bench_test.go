package edit_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
	"github.com/mechlens/mechlens/toy"
)

// BenchmarkROMEOrganism is one ROME edit on the organism with its settings, the prefixes
// and the covariance given (generated once, as edit rome --requests does): 21 keys, up to 20
// Adam steps over 22 prompts, the closed form. C = I here: with a covariance the solve adds
// a 512×512 Cholesky factorisation once per covariance.
func BenchmarkROMEOrganism(b *testing.B) {
	m, err := toy.Organism()
	if err != nil {
		b.Fatal(err)
	}
	cfg := toy.ROMEConfig(m.Config)
	reqs := toy.Requests(toy.NewWorld(), []toy.Attr{toy.Capital})
	prefixes, err := edit.Prefixes(m, cfg)
	if err != nil {
		b.Fatal(err)
	}
	g := gpt2.NewModelGrad(m)
	b.ResetTimer()
	cpu := procstat.CPUTime()
	for i := range b.N {
		if _, err := edit.ROME(m, g, reqs[i%len(reqs)], cfg, nil, prefixes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((procstat.CPUTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkROMEGPT2Medium is one ROME edit on GPT-2 medium's shape (random weights, a
// 50257-token vocabulary, layer 8, clamp 3) with a prompt of 8 tokens, 20 prefixes and the
// full 20 steps (random weights never reach the early stop), with a covariance as if
// loaded from the cache (a diagonally dominant 4096×4096 one: its Cholesky factorisation
// costs what a measured one does). It takes minutes: run it with -benchtime 1x.
func BenchmarkROMEGPT2Medium(b *testing.B) {
	cfg := gpt2.Presets["gpt2-medium"]
	tok, err := gpt2.LoadTokenizer("../testdata/gpt2-tokenizer")
	if err != nil {
		b.Fatal(err)
	}
	m := gpt2.RandomModel(cfg, 1, tok)
	rc := edit.ROMEDefaults(cfg)
	prefixes, err := edit.Prefixes(m, rc)
	if err != nil {
		b.Fatal(err)
	}
	q := edit.Request{Subject: "The Eiffel Tower", Prompt: "{} is located in the city of", TargetNew: " Rome", TargetTrue: " Paris"}
	g := gpt2.NewModelGrad(m)
	M := cfg.DMLP
	r := rand.New(rand.NewPCG(5, 6))
	mom2 := make([]float64, M*M)
	for i := range M {
		mom2[i*M+i] = 1
		for j := range i {
			v := 0.1 * r.Float64() / float64(M)
			mom2[i*M+j], mom2[j*M+i] = v, v
		}
	}
	b.ResetTimer()
	cpu := procstat.CPUTime()
	for range b.N {
		// A new Cov each time: its factorisation is kept once computed.
		cov := &edit.Cov{Layer: rc.Layer, M: M, Count: 1, Mom2: mom2}
		if _, err := edit.ROME(m, g, q, rc, cov, prefixes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((procstat.CPUTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
}
