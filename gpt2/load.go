package gpt2

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mechlens/mechlens/internal/procstat"
	"github.com/mechlens/mechlens/weights"
)

// safetensorsSource adapts a weights.File to TensorSource; reading a tensor stops with
// ctx's error once ctx is cancelled, so that loading a large model can be interrupted.
type safetensorsSource struct {
	f   *weights.File
	ctx context.Context
}

func (s safetensorsSource) Names() []string { return s.f.Names() }
func (s safetensorsSource) Shape(name string) ([]int, bool) {
	info, ok := s.f.Info(name)
	return info.Shape, ok
}
func (s safetensorsSource) Drop(x []float32) { s.f.Drop(x) }
func (s safetensorsSource) Float32(name string) ([]float32, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	return s.f.Float32(name)
}

// LoadDir loads a Hugging Face GPT-2 folder: config.json, model.safetensors and, when
// present, the tokenizer files. F32 weights are packed straight from the file's mapping,
// which is closed once the model holds its own packed copy.
func LoadDir(dir string) (*Model, error) { return LoadDirContext(context.Background(), dir) }

// LoadDirContext is LoadDir that stops with ctx's error when ctx is cancelled while the
// weights are read.
func LoadDirContext(ctx context.Context, dir string) (*Model, error) {
	return LoadDirWith(ctx, dir, LoadOptions{})
}

// LoadDirWith is LoadDirContext with the weights packed as o says. With bfloat16 weights,
// each matrix is rounded from the file's mapping panel by panel: no float32 copy is made.
func LoadDirWith(ctx context.Context, dir string, o LoadOptions) (*Model, error) {
	cfg, err := ReadConfig(configPath(dir))
	if err != nil {
		return nil, err
	}
	if err := CheckMemory(cfg, o.Weights); err != nil {
		return nil, fmt.Errorf("gpt2: %s: %w", dir, err)
	}
	path := filepath.Join(dir, "model.safetensors")
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("gpt2: %s is a folder; it should be the weights file", path)
	case err == nil:
	case hasAny(dir, "model.safetensors.index.json"):
		return nil, fmt.Errorf("gpt2: %s holds a sharded checkpoint (model.safetensors.index.json and its shards), which mechlens does not read yet: save it as one file with transformers' save_pretrained(max_shard_size=\"100GB\")", dir)
	case hasAny(dir, "pytorch_model.bin"):
		return nil, fmt.Errorf("gpt2: %s has only pytorch_model.bin; mechlens reads model.safetensors (convert it with transformers' save_pretrained(safe_serialization=True))", dir)
	default:
		return nil, fmt.Errorf("gpt2: %s has no model.safetensors", dir)
	}
	f, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := LoadParams(cfg, safetensorsSource{f, ctx})
	if err != nil {
		return nil, fmt.Errorf("gpt2: %s: %w", path, err)
	}
	var tok *Tokenizer
	if hasAny(dir, "vocab.json", "tokenizer.json") {
		if tok, err = LoadTokenizer(dir); err != nil {
			return nil, err
		}
	}
	m := newModel(cfg, p, tok, f.Drop, f.Drop, o)
	m.Source = dir
	return m, nil
}

// CheckMemory refuses a model whose weights alone, the matrices stored as t, exceed the
// memory the machine has available, before anything is allocated: a config with an absurd
// size would otherwise panic or be killed by the system, after minutes of swapping.
func CheckMemory(c Config, t WeightType) error {
	avail := procstat.AvailableMiB() * (1 << 20)
	need, params := c.weightBytes(t)
	if avail > 0 && need > avail {
		return fmt.Errorf("the model needs %s of memory for its %.3g parameters; this machine has %s available", bytesText(need), params, bytesText(avail))
	}
	return nil
}

// weightBytes is the memory of the weights, the matrices stored as t, and their number, in
// float64 so that no size overflows.
func (c Config) weightBytes(t WeightType) (bytes, params float64) {
	D, M, V, L, T := float64(c.DModel), float64(c.DMLP), float64(c.DVocab), float64(c.NLayers), float64(c.NCtx)
	matrices := V*D + L*(3*D*D+D*D+2*D*M)
	vectors := T*D + L*(4*D+3*D+D+M+D) + 2*D
	size := 4.0
	if t == BF16 {
		size = 2
	}
	return size*matrices + 4*vectors, matrices + vectors
}

func bytesText(b float64) string {
	for _, u := range []string{"B", "KB", "MB", "GB", "TB", "PB", "EB"} {
		if b < 1000 {
			return fmt.Sprintf("%.3g %s", b, u)
		}
		b /= 1000
	}
	return fmt.Sprintf("%.3g ZB", b)
}

func hasAny(dir string, names ...string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// LoadFS loads a model folder held in an fs.FS (the embedded default): config.json,
// model.safetensors and the tokenizer files at its root.
func LoadFS(fsys fs.FS, name string) (*Model, error) {
	data, err := fs.ReadFile(fsys, "config.json")
	if err != nil {
		return nil, fmt.Errorf("gpt2: %s: %w", name, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %s/config.json: %w", name, err)
	}
	if data, err = fs.ReadFile(fsys, "model.safetensors"); err != nil {
		return nil, fmt.Errorf("gpt2: %s: %w", name, err)
	}
	f, err := weights.ReadSafetensors(name+"/model.safetensors", data)
	if err != nil {
		return nil, err
	}
	p, err := LoadParams(cfg, safetensorsSource{f, context.Background()})
	if err != nil {
		return nil, fmt.Errorf("gpt2: %s/model.safetensors: %w", name, err)
	}
	tok, err := LoadTokenizerFS(fsys)
	if err != nil {
		return nil, err
	}
	return NewModel(cfg, p, tok), nil
}
