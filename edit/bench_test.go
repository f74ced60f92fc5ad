package edit_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
)

// benchEdit times applying and reverting one edit on a random model of the named shape:
// in place, and on a copy-on-write clone as the TUI and `edit diff` do (the first write to
// a shared matrix copies that matrix). It reports CPU time (the machine is shared) and the
// resident memory the edit adds.
func benchEdit(b *testing.B, shape string, mk func(m *gpt2.Model, r *rand.Rand) edit.Edit) {
	cfg, ok := gpt2.Presets[shape]
	if !ok {
		b.Fatalf("no preset %s", shape)
	}
	base := gpt2.RandomModel(cfg, 1, nil)
	e := mk(base, rand.New(rand.NewPCG(1, 2)))
	for _, clone := range []bool{false, true} {
		name := map[bool]string{false: "in-place", true: "clone"}[clone]
		b.Run(name, func(b *testing.B) {
			var added float64
			cpu := procstat.CPUTime()
			for range b.N {
				m := base
				if clone {
					m = base.Clone()
				}
				rss := procstat.RSSMiB()
				a, err := edit.ApplyEdit(m, e)
				if err != nil {
					b.Fatal(err)
				}
				added = max(added, procstat.RSSMiB()-rss)
				a.Revert()
			}
			b.ReportMetric(float64((procstat.CPUTime()-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(added, "added-MiB")
			b.ReportMetric(100*added*(1<<20)/float64(4*cfg.NParams()), "added-%")
		})
	}
}

func BenchmarkValueVectorGPT2XL(b *testing.B) {
	benchEdit(b, "gpt2-xl", func(m *gpt2.Model, r *rand.Rand) edit.Edit {
		return edit.ValueVector(17, 1853, vec(r, m.Config.DModel), "add")
	})
}

func BenchmarkRankOneGPT2Medium(b *testing.B) {
	benchEdit(b, "gpt2-medium", func(m *gpt2.Model, r *rand.Rand) edit.Edit {
		return edit.RankOne(8, gpt2.MatrixWOut, vec(r, m.Config.DMLP), vec(r, m.Config.DModel))
	})
}
