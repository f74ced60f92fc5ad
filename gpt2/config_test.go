package gpt2

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	c, err := ReadConfig("../testdata/tiny-gpt2/config.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{NLayers: 2, DModel: 32, NHeads: 4, DHead: 8, DMLP: 128, NCtx: 128, DVocab: 50257, LNEps: 1e-5, Activation: "gelu_new"}
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"n_layer": 2, "n_head": 2, "n_embd": 8, "vocab_size": 10}`, "field n_positions is missing"},
		{`{"n_layer": 2, "n_head": 3, "n_embd": 8, "vocab_size": 10, "n_ctx": 4}`, "n_embd 8 is not a multiple of n_head 3"},
		{`{"n_layer": 0, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_ctx": 4}`, "field n_layer is 0, want > 0"},
		{`{"n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_ctx": 4, "scale_attn_by_inverse_layer_idx": true}`, "scale_attn_by_inverse_layer_idx=true is not supported"},
		{`{"n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_ctx": 4, "activation_function": "relu"}`, `activation_function "relu" is not supported`},
		{`{"model_type": "llama"}`, `model_type "llama" is not supported`},
		{`{"n_layer": `, "not valid JSON"},
		{`{"n_layer": 1, "n_head": 2, "n_embd": "8", "vocab_size": 10, "n_ctx": 4}`, "field n_embd is a JSON string, want an integer"},
		{`{"n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_ctx": 4, "layer_norm_epsilon": 0}`, "field layer_norm_epsilon is 0, want a positive number"},
		{`{"n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_ctx": 4, "layer_norm_epsilon": -1e-5}`, "field layer_norm_epsilon is -1e-05, want a positive number"},
	} {
		if _, err := ParseConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%s): %v, want %q", tc.json, err, tc.want)
		}
	}
	c, err = ParseConfig([]byte(`{"n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_ctx": 4, "n_inner": 20, "activation_function": "gelu_pytorch_tanh", "layer_norm_epsilon": 1e-6}`))
	if err != nil || c.DMLP != 20 || c.Activation != "gelu_new" || c.LNEps != 1e-6 {
		t.Errorf("n_inner/activation/eps: %+v %v", c, err)
	}
	// HFJSON round-trips.
	data, err := Presets["gpt2-medium"].HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(data)
	if err != nil || back != Presets["gpt2-medium"] {
		t.Errorf("HFJSON round trip: %+v %v", back, err)
	}
	if n := Presets["gpt2"].NParams(); n != 124439808 {
		t.Errorf("gpt2 has %d parameters, want 124439808", n)
	}
}

// The hook names are TransformerLens's: a rename must fail here first.
func TestHookNamesGolden(t *testing.T) {
	got := HookNames(Config{NLayers: 1})
	want := []string{"hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_scale",
		"blocks.0.ln1.hook_normalized", "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
		"blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
		"blocks.0.attn.hook_result", "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid", "blocks.0.ln2.hook_scale",
		"blocks.0.ln2.hook_normalized", "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out",
		"blocks.0.hook_resid_post", "ln_final.hook_scale", "ln_final.hook_normalized", "logits"}
	if !slices.Equal(got, want) {
		t.Errorf("HookNames =\n%q\nwant\n%q", got, want)
	}
	m, err := MatchHooks(Config{NLayers: 12}, "blocks.1?.attn.hook_pattern", "hook_embed")
	if err != nil || !slices.Equal(m, []string{"hook_embed", "blocks.10.attn.hook_pattern", "blocks.11.attn.hook_pattern"}) {
		t.Errorf("MatchHooks = %v, %v", m, err)
	}
	if _, err := MatchHooks(Config{NLayers: 2}, "blocks.*.attn.hook_patern"); err == nil || !strings.Contains(err.Error(), "matches no hook point") {
		t.Errorf("misspelt pattern: %v", err)
	}
}

func TestRandomParams(t *testing.T) {
	c := Presets["gpt2"].shrunk()
	c.DModel, c.DHead, c.DMLP = 256, 64, 1024
	a, b := RandomParams(c, 3), RandomParams(c, 3)
	if !slices.Equal(a.Blocks[1].FcW, b.Blocks[1].FcW) || !slices.Equal(a.WTE, b.WTE) {
		t.Error("the same seed gave different weights")
	}
	if slices.Equal(RandomParams(c, 4).WTE, a.WTE) {
		t.Error("different seeds gave the same weights")
	}
	std := func(x []float32) float64 {
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(x)))
	}
	resid := 0.02 / math.Sqrt(2*float64(c.NLayers))
	for _, tc := range []struct {
		name string
		x    []float32
		want float64
	}{
		{"wte", a.WTE, 0.02}, {"c_fc", a.Blocks[0].FcW, 0.02}, {"c_attn", a.Blocks[0].AttnW, 0.02},
		{"attn.c_proj", a.Blocks[2].AttnProjW, resid}, {"mlp.c_proj", a.Blocks[2].ProjW, resid},
	} {
		if got := std(tc.x); math.Abs(got-tc.want) > 0.03*tc.want {
			t.Errorf("%s: std %g, want %g", tc.name, got, tc.want)
		}
	}
	if a.Blocks[0].Ln1W[5] != 1 || a.Blocks[0].Ln1B[5] != 0 || a.Blocks[0].FcB[7] != 0 || a.LnFW[0] != 1 {
		t.Error("layer norms must start at weight 1, bias 0, and biases at 0")
	}
}

// fakeSource serves tensors from a map, for LoadParams's error paths.
type fakeSource map[string][]int

func (f fakeSource) Names() []string {
	var n []string
	for k := range f {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}
func (f fakeSource) Shape(name string) ([]int, bool) { s, ok := f[name]; return s, ok }
func (f fakeSource) Float32(name string) ([]float32, error) {
	n := 1
	for _, d := range f[name] {
		n *= d
	}
	return make([]float32, n), nil
}

func TestLoadParamsListsProblems(t *testing.T) {
	c := Config{NLayers: 1, DModel: 4, NHeads: 2, DHead: 2, DMLP: 16, NCtx: 8, DVocab: 10}
	src := fakeSource{}
	for i, s := range (&Params{Blocks: make([]Block, 1)}).specs(c) {
		if i == 3 { // h.0.ln_1.bias
			continue
		}
		src["transformer."+s.name] = s.shape
	}
	src["transformer.h.0.attn.bias"] = []int{1, 1, 8, 8}
	src["transformer.h.0.mlp.c_fc.weight"] = []int{4, 15}
	src["transformer.h.0.extra"] = []int{2}
	_, err := LoadParams(c, src)
	want := "transformer.h.0.mlp.c_fc.weight has shape [4 15], want [4 16]; missing h.0.ln_1.bias; unexpected transformer.h.0.extra"
	if err == nil || err.Error() != want {
		t.Errorf("LoadParams error:\n%v\nwant\n%s", err, want)
	}
	// Another architecture's checkpoint: the first few names and a count, not hundreds.
	for i := range 8 {
		src[fmt.Sprintf("model.layers.%d.weight", i)] = []int{2}
	}
	if _, err := LoadParams(c, src); err == nil || !strings.HasSuffix(err.Error(), "unexpected model.layers.0.weight, model.layers.1.weight, model.layers.2.weight, model.layers.3.weight, model.layers.4.weight and 4 more") {
		t.Errorf("LoadParams error: %v", err)
	}
}

// nanSource serves the tensors of fakeSource with one NaN and one Inf planted.
type nanSource struct{ fakeSource }

func (f nanSource) Float32(name string) ([]float32, error) {
	x, _ := f.fakeSource.Float32(name)
	switch name {
	case "h.0.mlp.c_fc.weight":
		x[7] = float32(math.NaN())
	case "ln_f.bias":
		x[1] = float32(math.Inf(-1))
	}
	return x, nil
}

func TestLoadParamsRefusesNonFinite(t *testing.T) {
	c := Config{NLayers: 1, DModel: 4, NHeads: 2, DHead: 2, DMLP: 16, NCtx: 8, DVocab: 10}
	src := fakeSource{}
	for _, s := range (&Params{Blocks: make([]Block, 1)}).specs(c) {
		src[s.name] = s.shape
	}
	_, err := LoadParams(c, nanSource{src})
	want := "h.0.mlp.c_fc.weight holds NaN at index 7; ln_f.bias holds -Inf at index 1"
	if err == nil || err.Error() != want {
		t.Errorf("LoadParams error:\n%v\nwant\n%s", err, want)
	}
}
