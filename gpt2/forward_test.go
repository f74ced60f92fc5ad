package gpt2

import (
	"encoding/json"
	"fmt"
	"github.com/mechlens/mechlens/internal/tensor"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/weights"
)

// fixtureModels are the shared reference models, copied into testdata.
var fixtureModels = []string{"../testdata/tiny-gpt2", "../testdata/tiny-gpt2-small-vocab"}

type refPrompt struct {
	Name string `json:"name"`
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func readPrompts(t *testing.T, dir string) []refPrompt {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "reference", "prompts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []refPrompt
	if err := json.Unmarshal(data, &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

func loadFixture(t testing.TB, dir string) *Model {
	t.Helper()
	m, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// maxAbsDiff compares got with want; -Inf must meet -Inf.
func maxAbsDiff(got, want []float32) (worst float64, at int) {
	at = -1
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsInf(w, -1) || math.IsInf(g, -1) {
			if g != w {
				return math.Inf(1), i
			}
			continue
		}
		if d := math.Abs(g - w); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

// TestForwardMatchesReference checks every activation of every reference prompt of both
// fixture models (F16 with plain names, BF16 with "transformer." names and an explicit
// lm_head) against the float64 reference: 1e-4 for activations, 2e-4 for logits.
func TestForwardMatchesReference(t *testing.T) {
	for _, dir := range fixtureModels {
		m := loadFixture(t, dir)
		for _, p := range readPrompts(t, dir) {
			t.Run(filepath.Base(dir)+"/"+p.Name, func(t *testing.T) {
				ref, err := weights.OpenSafetensors(filepath.Join(dir, "reference", p.Name+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				toks, err := ref.Int64("tokens")
				if err != nil {
					t.Fatal(err)
				}
				ids := make([]int, len(toks))
				for i, v := range toks {
					ids[i] = int(v)
				}
				if !slices.Equal(ids, p.IDs) {
					t.Fatalf("reference tokens %v differ from prompts.json %v", ids, p.IDs)
				}
				var hooks []string
				for _, n := range ref.Names() {
					if strings.HasPrefix(n, "blocks.") || strings.HasPrefix(n, "hook_") || strings.HasPrefix(n, "ln_final.") {
						hooks = append(hooks, n)
					}
				}
				if len(hooks) < 10 {
					t.Fatalf("reference has only %d activations", len(hooks))
				}
				res, err := m.Run([][]int{ids}, RunOptions{Logits: LogitsAll, Cache: hooks})
				if err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for _, n := range hooks {
					want, _ := ref.Float32(n)
					info, _ := ref.Info(n)
					got := res.Cache[0][n]
					if !slices.Equal(got.Shape, info.Shape) {
						t.Errorf("%s: shape %v, want %v", n, got.Shape, info.Shape)
						continue
					}
					d, at := maxAbsDiff(got.Data, want)
					worst = max(worst, d)
					if d > 1e-4 {
						t.Errorf("%s: max |diff| %.3g at %d (got %g, want %g)", n, d, at, got.Data[at], want[at])
					}
				}
				V := m.Config.DVocab
				logits := res.Logits[0]
				T := len(ids)
				checkLogits := func(name string, got, want []float32) {
					d, at := maxAbsDiff(got, want)
					if d > 2e-4 {
						t.Errorf("%s: max |diff| %.3g at %d", name, d, at)
					}
					worst = max(worst, d)
				}
				if want, err := ref.Float32("logits_last"); err == nil {
					checkLogits("logits_last", logits[(T-1)*V:], want)
				}
				if want, err := ref.Float32("logits"); err == nil {
					checkLogits("logits", logits, want)
				}
				lse := make([]float32, T)
				for i := range lse {
					lse[i] = float32(tensor.LogSumExp(logits[i*V : (i+1)*V]))
				}
				if want, err := ref.Float32("logsumexp"); err == nil {
					checkLogits("logsumexp", lse, want)
				}
				if want, err := ref.Float32("next_token_logprob"); err == nil {
					lp := make([]float32, T-1)
					for i := range lp {
						lp[i] = logits[i*V+ids[i+1]] - lse[i]
					}
					checkLogits("next_token_logprob", lp, want)
				}
				t.Logf("worst |diff| over %d tensors: %.3g", len(hooks), worst)
			})
		}
	}
}

var _ = fmt.Sprintf
