package toy

import (
	"embed"
	"io/fs"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/modelspec"
)

// organism is the trained model organism, a Hugging Face folder written by
// 'mechlens toy train --out toy/organism' (see the README for the recipe and its
// measurements).
//
//go:embed organism/config.json organism/model.safetensors organism/vocab.json organism/merges.txt
var organism embed.FS

// Organism loads the embedded model organism: every call returns a model of its own, so
// callers may edit it.
func Organism() (*gpt2.Model, error) {
	sub, err := fs.Sub(organism, "organism")
	if err != nil {
		return nil, err
	}
	return gpt2.LoadFS(sub, modelspec.DefaultName)
}

// Tokenizer loads the embedded organism's tokenizer alone (its 1,186 tokens), without the
// weights: what random: models of the organism's shape borrow.
func Tokenizer() (*gpt2.Tokenizer, error) {
	sub, err := fs.Sub(organism, "organism")
	if err != nil {
		return nil, err
	}
	return gpt2.LoadTokenizerFS(sub)
}
