package gpt2

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
)

// Config is a GPT-2 model's shape. JSON names are TransformerLens's; ReadConfig reads
// Hugging Face's config.json.
type Config struct {
	NLayers    int     `json:"n_layers"`
	DModel     int     `json:"d_model"`
	NHeads     int     `json:"n_heads"`
	DHead      int     `json:"d_head"`
	DMLP       int     `json:"d_mlp"`
	NCtx       int     `json:"n_ctx"`
	DVocab     int     `json:"d_vocab"`
	LNEps      float32 `json:"eps"`
	Activation string  `json:"act_fn"` // gelu_new (tanh approximation) or gelu (erf)
}

// Presets are the shapes of the released GPT-2 family, for random:NAME models and tests.
var Presets = map[string]Config{
	"gpt2":        preset(12, 768, 12),
	"gpt2-medium": preset(24, 1024, 16),
	"gpt2-large":  preset(36, 1280, 20),
	"gpt2-xl":     preset(48, 1600, 25),
	"distilgpt2":  preset(6, 768, 12),
}

func preset(layers, d, heads int) Config {
	return Config{NLayers: layers, DModel: d, NHeads: heads, DHead: d / heads, DMLP: 4 * d,
		NCtx: 1024, DVocab: 50257, LNEps: 1e-5, Activation: "gelu_new"}
}

// hfConfig is the subset of Hugging Face's GPT2Config that changes the computation.
type hfConfig struct {
	ModelType             string   `json:"model_type"`
	NLayer                *int     `json:"n_layer"`
	NHead                 *int     `json:"n_head"`
	NEmbd                 *int     `json:"n_embd"`
	NPositions            *int     `json:"n_positions"`
	NCtx                  *int     `json:"n_ctx"`
	VocabSize             *int     `json:"vocab_size"`
	NInner                *int     `json:"n_inner"`
	LayerNormEpsilon      *float64 `json:"layer_norm_epsilon"`
	ActivationFunction    *string  `json:"activation_function"`
	ScaleAttnWeights      *bool    `json:"scale_attn_weights"`
	ScaleAttnByInverseIdx *bool    `json:"scale_attn_by_inverse_layer_idx"`
	ReorderAndUpcastAttn  *bool    `json:"reorder_and_upcast_attn"`
	AddCrossAttention     *bool    `json:"add_cross_attention"`
}

// ReadConfig reads a Hugging Face config.json.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("gpt2: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("gpt2: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses the bytes of a Hugging Face config.json and refuses, naming the field,
// what this implementation does not compute.
func ParseConfig(data []byte) (Config, error) {
	var h hfConfig
	if err := json.Unmarshal(data, &h); err != nil {
		return Config{}, jsonError(err)
	}
	if h.ModelType != "" && h.ModelType != "gpt2" {
		return Config{}, fmt.Errorf("model_type %q is not supported, want \"gpt2\"", h.ModelType)
	}
	need := func(name string, v *int) (int, error) {
		if v == nil {
			return 0, fmt.Errorf("field %s is missing", name)
		}
		if *v <= 0 {
			return 0, fmt.Errorf("field %s is %d, want > 0", name, *v)
		}
		return *v, nil
	}
	var c Config
	var err error
	if c.NLayers, err = need("n_layer", h.NLayer); err != nil {
		return Config{}, err
	}
	if c.NHeads, err = need("n_head", h.NHead); err != nil {
		return Config{}, err
	}
	if c.DModel, err = need("n_embd", h.NEmbd); err != nil {
		return Config{}, err
	}
	if c.DVocab, err = need("vocab_size", h.VocabSize); err != nil {
		return Config{}, err
	}
	ctx := h.NPositions
	if ctx == nil {
		ctx = h.NCtx
	}
	if c.NCtx, err = need("n_positions", ctx); err != nil {
		return Config{}, err
	}
	c.DMLP = 4 * c.DModel
	if h.NInner != nil {
		if c.DMLP, err = need("n_inner", h.NInner); err != nil {
			return Config{}, err
		}
	}
	c.LNEps = 1e-5
	if h.LayerNormEpsilon != nil {
		// A zero epsilon divides by zero on any constant vector; a negative one takes the
		// square root of a negative number: NaN logits, not an error, once running.
		if e := *h.LayerNormEpsilon; !(e > 0) || float32(e) == 0 || math.IsInf(float64(float32(e)), 0) {
			return Config{}, fmt.Errorf("field layer_norm_epsilon is %g, want a positive number", e)
		}
		c.LNEps = float32(*h.LayerNormEpsilon)
	}
	c.Activation = "gelu_new"
	if h.ActivationFunction != nil {
		c.Activation = *h.ActivationFunction
	}
	switch c.Activation {
	case "gelu_pytorch_tanh":
		c.Activation = "gelu_new" // the same function computed another way
	case "gelu_new", "gelu":
	default:
		return Config{}, fmt.Errorf("activation_function %q is not supported (gelu_new, gelu_pytorch_tanh, gelu)", c.Activation)
	}
	for _, f := range []struct {
		name string
		v    *bool
		ok   bool
	}{
		{"scale_attn_weights", h.ScaleAttnWeights, true},
		{"scale_attn_by_inverse_layer_idx", h.ScaleAttnByInverseIdx, false},
		{"reorder_and_upcast_attn", h.ReorderAndUpcastAttn, false},
		{"add_cross_attention", h.AddCrossAttention, false},
	} {
		if f.v != nil && *f.v != f.ok {
			return Config{}, fmt.Errorf("%s=%v is not supported", f.name, *f.v)
		}
	}
	if c.DModel%c.NHeads != 0 {
		return Config{}, fmt.Errorf("n_embd %d is not a multiple of n_head %d", c.DModel, c.NHeads)
	}
	c.DHead = c.DModel / c.NHeads
	return c, nil
}

// jsonError says what is wrong with a JSON file in its own terms: encoding/json's messages
// name Go types ("Go struct field hfConfig.n_embd of type int"), which mean nothing to users.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("a JSON %s where %s is expected", te.Value, jsonKind(te.Type.Kind()))
		}
		return fmt.Errorf("field %s is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind()))
	}
	return fmt.Errorf("not valid JSON: %v", err)
}

// jsonKind names a Go kind as a JSON type.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "a list"
	}
	return "another type"
}

// HFJSON returns the config as Hugging Face's config.json, so that a model mechlens writes
// loads in transformers.
func (c Config) HFJSON() ([]byte, error) {
	act := c.Activation
	m := map[string]any{
		"architectures":       []string{"GPT2LMHeadModel"},
		"model_type":          "gpt2",
		"n_layer":             c.NLayers,
		"n_head":              c.NHeads,
		"n_embd":              c.DModel,
		"n_positions":         c.NCtx,
		"n_ctx":               c.NCtx,
		"n_inner":             c.DMLP,
		"vocab_size":          c.DVocab,
		"layer_norm_epsilon":  float64(c.LNEps),
		"activation_function": act,
		"bos_token_id":        c.DVocab - 1,
		"eos_token_id":        c.DVocab - 1,
		"attn_pdrop":          0.0,
		"embd_pdrop":          0.0,
		"resid_pdrop":         0.0,
		"initializer_range":   0.02,
		"scale_attn_weights":  true,
		"torch_dtype":         "float32",
	}
	return json.MarshalIndent(m, "", "  ")
}

// configPath is where a model folder keeps its config.
func configPath(dir string) string { return filepath.Join(dir, "config.json") }

// NParams is the number of parameters (tied embedding counted once).
func (c Config) NParams() int {
	D, M := c.DModel, c.DMLP
	block := 4*D + D*3*D + 3*D + D*D + D + D*M + M + M*D + D
	return c.DVocab*D + c.NCtx*D + c.NLayers*block + 2*D
}
