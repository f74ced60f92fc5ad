package main

import (
	"math"
	"strings"
	"testing"
)

type jPart struct {
	Name  string  `json:"name"`
	Kind  string  `json:"kind"`
	Layer int     `json:"layer"`
	Head  int     `json:"head"`
	Value float64 `json:"value"`
}

type jNeuron struct {
	Layer        int     `json:"layer"`
	Neuron       int     `json:"neuron"`
	Activation   float64 `json:"activation"`
	Effect       float64 `json:"effect"`
	Contribution float64 `json:"contribution"`
}

type jAttributeOutput struct {
	Model       string   `json:"model"`
	Processing  []string `json:"processing"`
	Edits       []string `json:"edits"`
	Tokens      []jToken `json:"tokens"`
	Attribution struct {
		Pos      int     `json:"pos"`
		Target   jToken  `json:"target"`
		Baseline *jToken `json:"baseline"`
		Logit    float64 `json:"logit"`
		Scale    float64 `json:"scale"`
		Parts    []jPart `json:"parts"`
		Sum      float64 `json:"sum"`
	} `json:"attribution"`
	Neurons *struct {
		Pos      int     `json:"pos"`
		Target   jToken  `json:"target"`
		Baseline *jToken `json:"baseline"`
		Layers   []struct {
			Layer   int     `json:"layer"`
			MLP     float64 `json:"mlp"`
			Bias    float64 `json:"bias"`
			Neurons float64 `json:"neurons"`
		} `json:"layers"`
		Promoters   []jNeuron `json:"promoters"`
		Suppressors []jNeuron `json:"suppressors"`
	} `json:"neurons"`
}

func TestAttributeCommand(t *testing.T) {
	for _, c := range []struct {
		process string
		steps   int
	}{{"none", 0}, {analysisProcessing, 3}} {
		out, errOut, code := runCommand(t, "", "attribute", "--model", tiny, "--process", c.process, mcqPrompt, "--target", " A", "--baseline", " B", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got jAttributeOutput
		decodeStrict(t, out, &got)
		at := got.Attribution
		if len(got.Processing) != c.steps || got.Neurons != nil || at.Target.Text != " A" || at.Baseline == nil || at.Baseline.ID != 347 || at.Pos != 32 {
			t.Errorf("--process %s: header %+v", c.process, got)
		}
		if len(at.Parts) != 2+2*(4+2)+2 {
			t.Fatalf("%d parts", len(at.Parts))
		}
		var sum float64
		for _, p := range at.Parts {
			sum += p.Value
		}
		if math.Abs(sum-at.Logit) > 1e-4 || math.Abs(sum-at.Sum) > 1e-9 {
			t.Errorf("--process %s: parts sum to %g (reported %g), the model's logit difference is %g", c.process, sum, at.Sum, at.Logit)
		}
	}
	out, errOut, code := runCommand(t, "", "attribute", "--model", tiny, mcqPrompt, "--target", " A", "--neurons", "all", "--top", "3", "--pos", "-2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got jAttributeOutput
	decodeStrict(t, out, &got)
	if got.Neurons == nil || len(got.Neurons.Layers) != 2 || len(got.Neurons.Promoters) != 3 || len(got.Neurons.Suppressors) != 3 ||
		got.Neurons.Baseline != nil || got.Neurons.Pos != 31 || got.Attribution.Pos != 31 {
		t.Fatalf("neurons: %+v", got.Neurons)
	}
	for _, l := range got.Neurons.Layers {
		if math.Abs(l.Neurons+l.Bias-l.MLP) > 1e-5 {
			t.Errorf("layer %d: neurons %g + bias %g ≠ mlp %g", l.Layer, l.Neurons, l.Bias, l.MLP)
		}
	}
	table, errOut, code := runCommand(t, "", "attribute", "--model", tiny, mcqPrompt, "--target", " A", "--baseline", " B", "--sort", "--top", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "part") || !strings.HasPrefix(lines[4], `logit " A" − logit " B" at position 32: model `) {
		t.Errorf("table:\n%s", table)
	}
	wantExit(t, 2, "--target is required", "attribute", "--model", tiny, "x")
	wantExit(t, 2, `--baseline: tokenizer: " Kristen B" is 2 tokens`, "attribute", "--model", tiny, "x", "--target", " A", "--baseline", " Kristen B")
	wantExit(t, 2, `--neurons: "5" is not all or a layer in 0..1`, "attribute", "--model", tiny, "x", "--target", " A", "--neurons", "5")
	wantExit(t, 1, "lens: the baseline is the target token 317", "attribute", "--model", tiny, "x", "--target", " A", "--baseline", " A")
	wantExit(t, 1, "more than the model's context of 128", "attribute", "--model", tiny, strings.Repeat("word ", 200), "--target", " A")
}
