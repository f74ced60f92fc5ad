package audit

import (
	"fmt"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
)

// fourOption makes n four-option items of about the paper's prompt length.
func fourOption(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		a := func(k int) string { return ioiNames[(i*7+k*13)%len(ioiNames)] }
		items[i] = Item{
			ID:       fmt.Sprintf("q%d", i),
			Question: fmt.Sprintf("After %s, %s and %s went to the %s, %s gave a %s to?", a(0), a(1), a(2), ioiPlaces[i%len(ioiPlaces)], a(0), ioiObjects[i%len(ioiObjects)]),
			Choices:  []string{a(0), a(1), a(2), a(3)},
			Answer:   i % 4,
		}
	}
	return items
}

// BenchmarkAudit scores four-option items on the GPT-2 small shape (random weights).
func BenchmarkAudit(b *testing.B) {
	tok, err := gpt2.LoadTokenizer("../testdata/gpt2-tokenizer")
	if err != nil {
		b.Fatal(err)
	}
	cfg := gpt2.Presets["gpt2"]
	m := gpt2.NewModel(cfg, gpt2.RandomParams(cfg, 1), tok)
	const n = 128 // of the 1,000: one pass over 1,000 takes minutes on 2 shared cores
	items := fourOption(n)
	for _, mode := range []struct {
		name, permute string
		share         bool
	}{{"none", PermuteNone, true}, {"cyclic", PermuteCyclic, true}, {"cyclic-noshare", PermuteCyclic, false}} {
		b.Run(mode.name, func(b *testing.B) {
			s, err := NewScorer(m, Format{BOS: true}, mode.permute)
			if err != nil {
				b.Fatal(err)
			}
			s.Share = mode.share
			b.ResetTimer()
			cpu := procstat.CPUTime()
			for i := 0; i < b.N; i++ {
				if _, err := s.Score(items, 0); err != nil {
					b.Fatal(err)
				}
			}
			// On a shared machine wall time depends on the neighbours: CPU time per item
			// tells what the work costs (items/s on idle cores ≈ cores / CPU time per item).
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64((procstat.CPUTime()-cpu).Milliseconds())/float64(n*b.N), "cpu-ms/item")
		})
	}
}
