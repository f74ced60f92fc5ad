package gpt2

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mechlens/mechlens/weights"
)

// safetensorsSource adapts a weights.File to TensorSource.
type safetensorsSource struct{ f *weights.File }

func (s safetensorsSource) Names() []string { return s.f.Names() }
func (s safetensorsSource) Shape(name string) ([]int, bool) {
	info, ok := s.f.Info(name)
	return info.Shape, ok
}
func (s safetensorsSource) Float32(name string) ([]float32, error) { return s.f.Float32(name) }

// LoadDir loads a Hugging Face GPT-2 folder: config.json, model.safetensors and, when
// present, the tokenizer files. F32 weights stay in the mapped file (read-only: Params are
// copied before any change, see Model.writable).
func LoadDir(dir string) (*Model, error) {
	cfg, err := ReadConfig(configPath(dir))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(path); err != nil {
		if _, binErr := os.Stat(filepath.Join(dir, "pytorch_model.bin")); binErr == nil {
			return nil, fmt.Errorf("gpt2: %s has only pytorch_model.bin; mechlens reads model.safetensors (convert it with transformers' save_pretrained(safe_serialization=True))", dir)
		}
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	f, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	p, err := LoadParams(cfg, safetensorsSource{f})
	if err != nil {
		return nil, fmt.Errorf("gpt2: %s: %w", path, err)
	}
	var tok *Tokenizer
	if hasAny(dir, "vocab.json", "tokenizer.json") {
		if tok, err = LoadTokenizer(dir); err != nil {
			return nil, err
		}
	}
	m := NewModel(cfg, p, tok)
	m.shared, m.Source = true, dir
	return m, nil
}

func hasAny(dir string, names ...string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}
