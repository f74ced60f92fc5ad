package gpt2

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A folder that cannot be loaded says why in words: weights that are a folder, a sharded
// checkpoint, PyTorch weights only, no weights.
func TestLoadDirSaysWhy(t *testing.T) {
	cfg, err := os.ReadFile("../testdata/tiny-gpt2/config.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		files []string // a name ending in / is a folder
		want  string
	}{
		{[]string{"model.safetensors/"}, "model.safetensors is a folder; it should be the weights file"},
		{[]string{"model.safetensors.index.json", "model-00001-of-00002.safetensors"}, "holds a sharded checkpoint (model.safetensors.index.json and its shards), which mechlens does not read yet"},
		{[]string{"pytorch_model.bin"}, "has only pytorch_model.bin"},
		{nil, "has no model.safetensors"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
		for _, f := range tc.files {
			if d, ok := strings.CutSuffix(f, "/"); ok {
				os.Mkdir(filepath.Join(dir, d), 0o755)
			} else {
				os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644)
			}
		}
		if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%v: %v, want %q", tc.files, err, tc.want)
		}
	}
}

// Loading stops when its context is cancelled.
func TestLoadDirContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadDirContext(ctx, "../testdata/tiny-gpt2"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v", err)
	}
}
