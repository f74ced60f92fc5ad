package main

import (
	"math"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

type jHeadsOutput struct {
	Model      string   `json:"model"`
	Processing []string `json:"processing"`
	Edits      []string `json:"edits"`
	Tokens     []jToken `json:"tokens"`
	Options    *struct {
		Query   int `json:"query"`
		Options []struct {
			Letter string `json:"letter"`
			Pos    int    `json:"pos"`
			Token  jToken `json:"token"`
		} `json:"options"`
		Heads []struct {
			Layer   int       `json:"layer"`
			Head    int       `json:"head"`
			Weights []float64 `json:"weights"`
		} `json:"heads"`
	} `json:"options"`
	Pattern *struct {
		Layer int `json:"layer"`
		Head  int `json:"head"`
		Query int `json:"query"`
		Keys  []struct {
			Pos    int     `json:"pos"`
			Token  jToken  `json:"token"`
			Weight float64 `json:"weight"`
		} `json:"keys"`
	} `json:"pattern"`
}

func TestHeadsCommand(t *testing.T) {
	m := loadTiny(t)
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode(mcqPrompt)...)
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsNone, Cache: []string{gpt2.Pattern(0), gpt2.Pattern(1)}})
	if err != nil {
		t.Fatal(err)
	}
	T := len(ids)
	pattern := func(l, h, q, k int) float64 { return float64(res.Cache[0][gpt2.Pattern(l)].Data[(h*T+q)*T+k]) }

	out, errOut, code := runCommand(t, "", "heads", "--model", tiny, "--bos", mcqPrompt, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got jHeadsOutput
	decodeStrict(t, out, &got)
	o := got.Options
	if got.Pattern != nil || o == nil || o.Query != T-1 || len(o.Options) != 2 || o.Options[0].Pos != 26 || o.Options[1].Pos != 29 ||
		o.Options[1].Letter != "B" || o.Options[1].Token.Text != " B" || len(o.Heads) != 8 {
		t.Fatalf("options %+v", o)
	}
	for _, h := range o.Heads {
		for i, w := range h.Weights {
			if want := pattern(h.Layer, h.Head, T-1, o.Options[i].Pos); math.Abs(w-want) > 1e-6 {
				t.Errorf("L%dH%d → %s: %g, want %g", h.Layer, h.Head, o.Options[i].Letter, w, want)
			}
		}
	}
	out, errOut, code = runCommand(t, "", "heads", "--model", tiny, "--bos", mcqPrompt, "--layer", "1", "--head", "3", "--query", "10", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got = jHeadsOutput{}
	decodeStrict(t, out, &got)
	p := got.Pattern
	if got.Options != nil || p == nil || p.Layer != 1 || p.Head != 3 || p.Query != 10 || len(p.Keys) != 11 {
		t.Fatalf("pattern %+v", p)
	}
	for _, k := range p.Keys {
		if want := pattern(1, 3, 10, k.Pos); math.Abs(k.Weight-want) > 1e-6 || k.Token.ID != ids[k.Pos] {
			t.Errorf("key %+v, want weight %g", k, want)
		}
	}
	table, _, _ := runCommand(t, "", "heads", "--model", tiny, mcqPrompt)
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 9 || !strings.HasPrefix(lines[0], "head  ") ||
		!strings.Contains(lines[0], "A@25") || !strings.Contains(lines[0], "B@28") || !strings.HasPrefix(lines[8], "L1H3") {
		t.Errorf("table:\n%s", table)
	}
	wantExit(t, 2, "--layer and --head go together", "heads", "--model", tiny, "x", "--layer", "1")
	wantExit(t, 1, `mechlens: lens: the prompt has no "Answer Choices:" before its answer options`, "heads", "--model", tiny, "Hello world")
	wantExit(t, 1, "lens: head 0.7: the model has layers 0..1 and heads 0..3", "heads", "--model", tiny, "Hello world", "--layer", "0", "--head", "7")
	wantExit(t, 1, "more than the model's context of 128", "heads", "--model", tiny, strings.Repeat("word ", 200))
}
