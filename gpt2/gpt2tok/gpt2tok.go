// Package gpt2tok holds GPT-2's tokenizer (vocab.json and merges.txt of openai-community/gpt2,
// shared by gpt2-medium, gpt2-large, gpt2-xl and distilgpt2), gzipped into the binary: 555 KB
// instead of 1.5 MB. It gives random:gpt2… models a vocabulary and `mechlens tokenize --model
// gpt2` an answer without the hub. It owns nothing else: models with files of their own load
// their tokenizer from them (gpt2.LoadDir).
package gpt2tok

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"

	"github.com/mechlens/mechlens/gpt2"
)

var (
	//go:embed vocab.json.gz
	vocabGz []byte
	//go:embed merges.txt.gz
	mergesGz []byte
)

// VocabSize is GPT-2's vocabulary: 50,000 merges, 256 bytes and <|endoftext|>.
const VocabSize = 50257

// Tokenizer returns GPT-2's tokenizer, decompressed and parsed on the first call (0.2–0.36 s,
// median 0.26 s of five, on this project's loaded 2-core machine) and shared afterwards: a
// Tokenizer is safe for concurrent use and never changes.
var Tokenizer = sync.OnceValues(func() (*gpt2.Tokenizer, error) {
	vocab, err := gunzip(vocabGz)
	if err != nil {
		return nil, err
	}
	merges, err := gunzip(mergesGz)
	if err != nil {
		return nil, err
	}
	return gpt2.ParseTokenizer(vocab, merges)
})

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gpt2tok: %w", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gpt2tok: %w", err)
	}
	return out, nil
}
