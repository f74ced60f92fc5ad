package toy

import (
	"testing"
	"time"
	"fmt"
	"github.com/mechlens/mechlens/gpt2"
)

func TestScratch(t *testing.T) {
	w := NewWorld()
	tok, err := TrainTokenizer(w)
	if err != nil { t.Fatal(err) }
	cfg := gpt2.Config{NLayers: 3, DModel: 128, NHeads: 4, DHead: 32, DMLP: 512, NCtx: 32, DVocab: tok.VocabSize(), LNEps: 1e-5, Activation: "gelu_new"}
	p := gpt2.RandomParams(cfg, 1)
	s := newSampler(w, 1)
	for it := 0; it < 5; it++ {
		var lines []Line
		for range 128 { lines = append(lines, s.line(mainMix, false)) }
		t0 := time.Now()
		rs, err := rows(tok, lines)
		if err != nil { t.Fatal(err) }
		t1 := time.Now()
		res, err := gpt2.Gradients(cfg, p, rs, gpt2.GradOptions{})
		if err != nil { t.Fatal(err) }
		fmt.Println("enc", t1.Sub(t0), "grad", time.Since(t1), res.Loss)
	}
}
