package modelspec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/procstat"
	"github.com/mechlens/mechlens/weights"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	m, err := Open(ctx, "../../testdata/tiny-gpt2", Options{})
	if err != nil || m.Config.NLayers != 2 || m.Tokenizer == nil {
		t.Fatalf("folder: %v", err)
	}
	r, err := Open(ctx, "random:../../testdata/tiny-gpt2/config.json", Options{Seed: 5, Tokenizer: m.Tokenizer})
	if err != nil || r.Config != m.Config || r.Tokenizer != m.Tokenizer {
		t.Fatalf("random from config: %v", err)
	}
	r2, _ := Open(ctx, "random:../../testdata/tiny-gpt2/config.json", Options{Seed: 5})
	if r2.UnembeddingVector(0)[10] != r.UnembeddingVector(0)[10] {
		t.Error("the same seed gave different random weights")
	}
	// random: models borrow the first tokenizer of their vocabulary's size, loading each
	// candidate only when the ones before it do not fit.
	var loaded []int
	cand := func(tok *gpt2.Tokenizer, k int) func() (*gpt2.Tokenizer, error) {
		return func() (*gpt2.Tokenizer, error) { loaded = append(loaded, k); return tok, nil }
	}
	small, err := gpt2.TrainBPE([]string{"a small vocabulary"}, 260, nil)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := Open(ctx, "random:../../testdata/tiny-gpt2/config.json", Options{Tokenizers: []func() (*gpt2.Tokenizer, error){cand(small, 0), cand(m.Tokenizer, 1), cand(small, 2)}})
	if err != nil || r3.Tokenizer != m.Tokenizer || !slices.Equal(loaded, []int{0, 1}) {
		t.Errorf("random: took tokenizer %p after loading %v (err %v), want the vocabulary-sized one after 0, 1", r3.Tokenizer, loaded, err)
	}
	if r4, _ := Open(ctx, "random:../../testdata/tiny-gpt2/config.json", Options{}); r4.Tokenizer != nil {
		t.Error("random: with no tokenizer to borrow has one")
	}
	if _, err := Open(ctx, "", Options{}); err == nil || !strings.Contains(err.Error(), "no embedded model") {
		t.Errorf("no embedded model: %v", err)
	}
	if e, err := Open(ctx, DefaultName, Options{Embedded: func() (*gpt2.Model, error) { return m, nil }}); e != m || err != nil {
		t.Errorf("%s: %v", DefaultName, err)
	}
	offline := &weights.Hub{CacheDir: t.TempDir(), Offline: true}
	for _, tc := range []struct{ spec, want string }{
		{"random:gpt5", "random:gpt5: unknown size"},
		{"./missing", "model folder ./missing does not exist"},
		{"../../testdata/tiny-gpt2/config.json", "model folder ../../testdata/tiny-gpt2/config.json is a file, not a folder"},
		{"gpt2", "is not in the cache"},
	} {
		if _, err := Open(ctx, tc.spec, Options{Hub: offline}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// A hub name that is also a local folder is refused, not silently resolved either way.
func TestOpenAmbiguousName(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("gpt2", 0o755); err != nil {
		t.Fatal(err)
	}
	offline := &weights.Hub{CacheDir: t.TempDir(), Offline: true}
	_, err := Open(context.Background(), "gpt2", Options{Hub: offline})
	if err == nil || err.Error() != `"gpt2" names both a hub model and the folder ./gpt2: write ./gpt2 for the folder, or run elsewhere for the hub model` {
		t.Errorf("Open(gpt2) beside ./gpt2: %v", err)
	}
	if _, err := Open(context.Background(), "./gpt2", Options{Hub: offline}); err == nil || strings.Contains(err.Error(), "names both") {
		t.Errorf("Open(./gpt2) must read the folder (empty here): %v", err)
	}
	if !IsDefault("") || !IsDefault(DefaultName) || IsDefault("gpt2") {
		t.Error("IsDefault")
	}
}

// A random model too large for the machine is refused with the figures, before allocating.
func TestOpenRefusesWhatDoesNotFit(t *testing.T) {
	if procstat.AvailableMiB() == 0 {
		t.Skip("this system does not report its available memory")
	}
	dir := t.TempDir()
	for _, cfg := range []string{
		`{"n_layer": 48, "n_head": 64, "n_embd": 65536, "vocab_size": 50257, "n_positions": 1024}`,
		`{"n_layer": 2, "n_head": 2, "n_embd": 64, "vocab_size": 1000000000000000, "n_positions": 1024}`,
	} {
		path := filepath.Join(dir, "config.json")
		os.WriteFile(path, []byte(cfg), 0o644)
		_, err := Open(context.Background(), "random:"+path, Options{})
		if err == nil || !strings.Contains(err.Error(), "the model needs") || !strings.Contains(err.Error(), "available") {
			t.Errorf("%s: %v", cfg, err)
		}
	}
}

// Check refuses what Open would refuse before loading anything, and passes the rest.
func TestCheck(t *testing.T) {
	t.Setenv("HOME", "../../testdata") // ~/tiny-gpt2 is a folder, as --model=~/x reaches mechlens
	for _, tc := range []struct{ spec, want string }{
		{"", ""},
		{DefaultName, ""},
		{"random:gpt2", ""},
		{"random:../../testdata/tiny-gpt2/config.json", ""},
		{"../../testdata/tiny-gpt2", ""},
		{"~/tiny-gpt2", ""},
		{"~/missing", "model folder ~/missing does not exist"},
		{"gpt2", ""},
		{"random:gpt5", "random:gpt5: unknown size (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or a config.json path)"},
		{"./missing", "model folder ./missing does not exist"},
		{"../../testdata/tiny-gpt2/config.json", "model folder ../../testdata/tiny-gpt2/config.json is a file, not a folder"},
	} {
		err := Check(tc.spec)
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("Check(%q): %v, want %q", tc.spec, err, tc.want)
		}
	}
	if _, err := Open(context.Background(), "~/tiny-gpt2", Options{}); err != nil {
		t.Errorf("Open(~/tiny-gpt2): %v", err)
	}
}
