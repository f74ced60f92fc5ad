package tui

import (
	"context"
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
)

// BenchmarkRedraw is the time to draw a screen from a computed state: what a cursor move or
// a pane switch costs on the UI goroutine (the analysis itself runs in a command).
func BenchmarkRedraw(b *testing.B) {
	m := newModel(b, Options{Prompt: mcq, Audit: mustAudit(b)})
	m = step(b, m, keys("4", "a")...) // with an edit: base and edited side by side
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		m := step(b, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for p := range nPanes {
			m := step(b, m, keys(string(rune('1'+p)))...)
			b.Run(p.String()+"/"+sizeName(size), func(b *testing.B) {
				for b.Loop() {
					_ = m.Render()
				}
			})
		}
	}
}

func sizeName(s [2]int) string { return fmt.Sprintf("%dx%d", s[0], s[1]) }

// BenchmarkRecomputeAfterEdit is what pressing a (ablate a head) costs before the screen
// shows it: a copy-on-write clone, the edit applied, and the panes' analyses of the base
// and the edited model. cpu-ms/op is the process's CPU time per recompute: on a loaded
// machine the wall time is the CPU time divided by the share of the cores the run got.
func BenchmarkRecomputeAfterEdit(b *testing.B) {
	run := func(b *testing.B, template *gpt2.Model, ids []int) {
		base := template.Clone()
		set := edit.NewSet(template, "bench")
		set.Edits = append(set.Edits, edit.ScaleHead(1, 1, 0))
		req := Request{IDs: ids, Pos: -1, Target: -1, Distractor: -1}
		prev, err := Analyze(context.Background(), base, req) // done before the edit
		if err != nil {
			b.Fatal(err)
		}
		cpu := procstat.CPUTime()
		defer func() { b.ReportMetric(float64((procstat.CPUTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op") }()
		for b.Loop() {
			if _, _, err := analyzeBoth(context.Background(), base, prev, template.Clone(), set, req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("organism", func(b *testing.B) {
		o := organism(b)
		run(b, o, append([]int{o.Tokenizer.EOT()}, o.Tokenizer.Encode(mcq)...))
	})
	b.Run("gpt2-small-shape/64-tokens", func(b *testing.B) {
		if testing.Short() {
			b.Skip("-short: no 124M-parameter model")
		}
		m := gpt2.RandomModel(gpt2.Presets["gpt2"], 1, nil)
		ids := make([]int, 64)
		for i := range ids {
			ids[i] = (i * 7919) % m.Config.DVocab
		}
		run(b, m, ids)
	})
}
