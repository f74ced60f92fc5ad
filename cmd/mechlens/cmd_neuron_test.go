package main

import (
	"math"
	"strings"
	"testing"
)

type jTokenScore struct {
	ID    int     `json:"id"`
	Text  string  `json:"text"`
	Score float64 `json:"score"`
}

type jNeuronOutput struct {
	Model       string   `json:"model"`
	Processing  []string `json:"processing"`
	Edits       []string `json:"edits"`
	ValueVector struct {
		Layer      int           `json:"layer"`
		Neuron     int           `json:"neuron"`
		Norm       float64       `json:"norm"`
		Top        []jTokenScore `json:"top"`
		Bottom     []jTokenScore `json:"bottom"`
		LensTop    []jTokenScore `json:"lens_top"`
		LensBottom []jTokenScore `json:"lens_bottom"`
	} `json:"value_vector"`
}

type jNeuronsOutput struct {
	Model      string   `json:"model"`
	Processing []string `json:"processing"`
	Edits      []string `json:"edits"`
	Tokens     []jToken `json:"tokens"`
	Promoters  *struct {
		Token    jToken `json:"token"`
		By       string `json:"by"`
		Suppress bool   `json:"suppress"`
		Neurons  []struct {
			Layer  int     `json:"layer"`
			Neuron int     `json:"neuron"`
			Logit  float64 `json:"logit"`
			Lens   float64 `json:"lens"`
		} `json:"neurons"`
	} `json:"promoters"`
	Scan *struct {
		Pos     int     `json:"pos"`
		Anchor  jToken  `json:"anchor"`
		Correct jToken  `json:"correct"`
		Gap     float64 `json:"gap"`
		Layers  []struct {
			Layer   int     `json:"layer"`
			Anchor  float64 `json:"anchor"`
			Correct float64 `json:"correct"`
			Diff    float64 `json:"diff"`
			Neurons []struct {
				Neuron     int          `json:"neuron"`
				Activation float64      `json:"activation"`
				Score      float64      `json:"score"`
				Anchor     float64      `json:"anchor"`
				Correct    float64      `json:"correct"`
				Diff       float64      `json:"diff"`
				Flagged    bool         `json:"flagged"`
				Words      []jTokenProb `json:"words"`
			} `json:"neurons"`
		} `json:"layers"`
		Heads []struct {
			Layer   int     `json:"layer"`
			Head    int     `json:"head"`
			Anchor  float64 `json:"anchor"`
			Correct float64 `json:"correct"`
			Diff    float64 `json:"diff"`
		} `json:"heads"`
	} `json:"scan"`
}

func TestNeuronCommand(t *testing.T) {
	out, errOut, code := runCommand(t, "", "neuron", "--model", tiny, "1.5", "--top", "4", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got jNeuronOutput
	decodeStrict(t, out, &got)
	vv := got.ValueVector
	if vv.Layer != 1 || vv.Neuron != 5 || len(vv.Top) != 4 || len(vv.Bottom) != 4 || len(vv.LensTop) != 4 || len(vv.LensBottom) != 4 {
		t.Fatalf("value vector %+v", vv)
	}
	// The processed model's W_out row 5 of block 1 against W_U, recomputed here.
	m := loadTiny(t, analysisSteps...)
	D := m.Config.DModel
	v := m.Weights().Blocks[1].ProjW[5*D : 6*D]
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	score := func(tok int) float64 {
		var s float64
		for k, u := range m.UnembeddingVector(tok) {
			s += float64(u) * float64(v[k])
		}
		return s
	}
	if math.Abs(vv.Norm-math.Sqrt(norm)) > 1e-6 || math.Abs(vv.Top[0].Score-score(vv.Top[0].ID)) > 1e-4 ||
		math.Abs(vv.Bottom[0].Score-score(vv.Bottom[0].ID)) > 1e-4 || vv.Top[0].Score < vv.Top[1].Score {
		t.Errorf("norm %g top %+v bottom %+v", vv.Norm, vv.Top[0], vv.Bottom[0])
	}
	table, _, _ := runCommand(t, "", "neuron", "--model", tiny, "0.127", "--top", "2")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "rank  top") || !strings.Contains(lines[0], "lens bottom") {
		t.Errorf("table:\n%s", table)
	}
	wantExit(t, 1, "mechlens: lens: neuron 9.1853: the model has layers 0..1\n", "neuron", "--model", tiny, "9.1853")
	wantExit(t, 1, "mechlens: lens: neuron 0.128: layer 0 has neurons 0..127\n", "neuron", "--model", tiny, "0.128")
	wantExit(t, 2, `neuron "9": want LAYER.INDEX, e.g. 9.1853`, "neuron", "--model", tiny, "9")
	wantExit(t, 2, `neuron "a.b": want LAYER.INDEX`, "neuron", "--model", tiny, "a.b")
}

func TestNeuronsCommand(t *testing.T) {
	out, errOut, code := runCommand(t, "", "neurons", "--model", tiny, "--promote", " A", "--top", "5", "--by", "lens", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got jNeuronsOutput
	decodeStrict(t, out, &got)
	p := got.Promoters
	if got.Scan != nil || p == nil || p.Token.ID != 317 || p.By != "lens" || p.Suppress || len(p.Neurons) != 5 || len(got.Tokens) != 0 {
		t.Fatalf("promoters %+v", got)
	}
	for i := 1; i < 5; i++ {
		if p.Neurons[i].Lens > p.Neurons[i-1].Lens {
			t.Errorf("promoters not sorted by lens at %d", i)
		}
	}
	out, errOut, code = runCommand(t, "", "neurons", "--model", tiny, "--bos", mcqPrompt, "--correct", " B", "--gap", "0.5", "--words", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got = jNeuronsOutput{}
	decodeStrict(t, out, &got)
	sc := got.Scan
	if got.Promoters != nil || sc == nil || sc.Anchor.Text != " A" || sc.Correct.Text != " B" || sc.Gap != 0.5 || sc.Pos != 33 ||
		len(sc.Layers) != 2 || len(sc.Heads) != 8 || got.Tokens[0].ID != 50256 {
		t.Fatalf("scan %+v", got)
	}
	flagged := 0
	for _, l := range sc.Layers {
		if len(l.Neurons) != 10 || math.Abs(l.Anchor-l.Correct-l.Diff) > 1e-9 {
			t.Errorf("layer %d: %d neurons, diff %g", l.Layer, len(l.Neurons), l.Diff)
		}
		for _, n := range l.Neurons {
			if n.Flagged != (n.Diff > 0.5) || n.Flagged != (len(n.Words) == 3) {
				t.Errorf("neuron %d.%d: diff %g flagged %v words %d", l.Layer, n.Neuron, n.Diff, n.Flagged, len(n.Words))
			}
			if n.Flagged {
				flagged++
			}
		}
	}
	if flagged == 0 {
		t.Error("no neuron flagged: the words are not tested")
	}
	table, _, _ := runCommand(t, "", "neurons", "--model", tiny, mcqPrompt, "--correct", " B", "--top", "2", "--heads", "1")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 1+2*3+1 || !strings.HasPrefix(lines[1], "L0.mlp") || !strings.HasPrefix(lines[7], "head") {
		t.Errorf("table:\n%s", table)
	}
	wantExit(t, 2, "--promote and --correct are two different searches", "neurons", "--model", tiny, "x", "--promote", " A", "--correct", " B")
	wantExit(t, 2, "give --promote TOKEN, or a prompt and --correct TOKEN", "neurons", "--model", tiny, "x")
	wantExit(t, 2, "--promote searches the weights: it takes no prompt", "neurons", "--model", tiny, "x", "--promote", " A")
	wantExit(t, 2, `--correct " A" is the --anchor: the scan measures one against the other`, "neurons", "--model", tiny, "x", "--correct", " A")
	wantExit(t, 2, `--correct: tokenizer: " B:" is 2 tokens`, "neurons", "--model", tiny, "x", "--correct", " B:")
	wantExit(t, 2, `--by: "norm" is not logit or lens`, "neurons", "--model", tiny, "--promote", " A", "--by", "norm")
}
