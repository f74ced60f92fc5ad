package main

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// The JSON of the lens family of commands as the README documents it: the tests decode
// stdout into these with unknown fields refused, so an undocumented field fails them.

type jToken struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

type jTokenProb struct {
	ID    int     `json:"id"`
	Text  string  `json:"text"`
	Logit float64 `json:"logit"`
	Prob  float64 `json:"prob"`
}

type jLensOutput struct {
	Model      string   `json:"model"`
	Processing []string `json:"processing"`
	Edits      []string `json:"edits"`
	Tokens     []jToken `json:"tokens"`
	Norm       string   `json:"norm"`
	Points     []string `json:"points"`
	Positions  []int    `json:"positions"`
	Rows       []struct {
		Point   string       `json:"point"`
		Layer   int          `json:"layer"`
		Pos     int          `json:"pos"`
		Top     []jTokenProb `json:"top"`
		Targets []struct {
			ID    int     `json:"id"`
			Text  string  `json:"text"`
			Logit float64 `json:"logit"`
			Prob  float64 `json:"prob"`
			Rank  int     `json:"rank"`
		} `json:"targets"`
		Entropy float64 `json:"entropy"`
		KL      float64 `json:"kl_to_final"`
	} `json:"rows"`
}

// mcqPrompt is the shared reference prompt "mcq".
const mcqPrompt = "Question: Then in the morning, Lindsey and Kristen had a long argument, and afterwards Lindsey said to? Answer Choices: A: Lindsey B: Kristen Answer:"

var analysisSteps = []string{gpt2.FoldLN, gpt2.CenterWritingWeights, gpt2.CenterUnembed}

// loadTiny loads the fixture, processed with steps.
func loadTiny(t *testing.T, steps ...string) *gpt2.Model {
	t.Helper()
	m, err := gpt2.LoadDir(tiny)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) > 0 {
		if err := m.Process(steps...); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// wantExit runs argv and checks the exit code and that stderr is one line containing want.
func wantExit(t *testing.T, code int, want string, argv ...string) {
	t.Helper()
	_, errOut, got := runCommand(t, "", argv...)
	if got != code || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", argv, got, errOut, code, want)
	}
}

func TestLensCommand(t *testing.T) {
	out, errOut, code := runCommand(t, "", "lens", "--model", tiny, mcqPrompt, "--target", " A", "--target", " B", "--pos", "all", "--top", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got jLensOutput
	decodeStrict(t, out, &got)
	if !slices.Equal(got.Processing, analysisSteps) || got.Norm != "own" || got.Model != tiny {
		t.Errorf("header: model %q processing %v norm %q", got.Model, got.Processing, got.Norm)
	}
	m := loadTiny(t, analysisSteps...)
	ids := m.Tokenizer.Encode(mcqPrompt)
	T, V := len(ids), m.Config.DVocab
	if len(got.Tokens) != T || got.Tokens[25].Text != " A" {
		t.Fatalf("tokens %v", got.Tokens)
	}
	if len(got.Points) != 5 || len(got.Rows) != 5*T || got.Points[4] != "blocks.1.hook_resid_post" {
		t.Fatalf("points %v with %d rows, want 5 points × %d positions", got.Points, len(got.Rows), T)
	}
	// The final residual's lens is the processed model's output.
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsAll})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Rows[4*T:] {
		for i, tg := range r.Targets {
			want := float64(res.Logits[0][r.Pos*V+[]int{317, 347}[i]])
			if tg.ID != []int{317, 347}[i] || math.Abs(tg.Logit-want) > 1e-5 {
				t.Errorf("final@%d target %+v, want logit %g", r.Pos, tg, want)
			}
		}
		if r.KL != 0 || len(r.Top) != 2 || r.Top[0].Prob < r.Top[1].Prob {
			t.Errorf("final@%d: kl %g top %+v", r.Pos, r.KL, r.Top)
		}
	}
	table, errOut, code := runCommand(t, "", "lens", "--model", tiny, "--process", "none", "--ids", "15496,995", "--mid=false", "--target", " A", "--top", "1", "--norm", "final-scale")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], `layer  pos  input     top`) || !strings.Contains(lines[0], `" A" rank  entropy`) ||
		!strings.HasPrefix(lines[1], "0 pre    1  \" world\"") || !strings.HasPrefix(lines[3], "final") || strings.Contains(table, "\x1b[") {
		t.Errorf("table:\n%s", table)
	}
	colored, _, _ := runCommand(t, "", "lens", "--model", tiny, "--ids", "15496,995", "--target", " A", "--color", "always")
	if !strings.Contains(colored, "\x1b[48;5;") {
		t.Errorf("--color always shaded nothing:\n%s", colored)
	}
	long := strings.TrimSpace(strings.Repeat("word ", 200))
	wantExit(t, 2, `mechlens: --target: tokenizer: " Lindsey B" is 2 tokens`, "lens", "--model", tiny, "x", "--target", " Lindsey B")
	wantExit(t, 1, "mechlens: the prompt has 200 tokens, more than the model's context of 128\n", "lens", "--model", tiny, long)
	wantExit(t, 2, `--norm: "mean" is not own or final-scale`, "lens", "--model", tiny, "x", "--norm", "mean")
	wantExit(t, 2, `--pos: "first" is not last, all or a position`, "lens", "--model", tiny, "x", "--pos", "first")
	wantExit(t, 1, "mechlens: lens: position 5 is outside the prompt's 2 tokens\n", "lens", "--model", tiny, "--ids", "1,2", "--pos", "5")
	wantExit(t, 2, `--color: "sometimes" is not auto, always or never`, "lens", "--model", tiny, "x", "--color", "sometimes")
	wantExit(t, 2, "give a prompt or --ids, not both", "lens", "--model", tiny, "x", "--ids", "1")
}
