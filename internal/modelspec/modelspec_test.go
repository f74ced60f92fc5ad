package modelspec

import (
	"context"
	"strings"
	"testing"

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
	offline := &weights.Hub{CacheDir: t.TempDir(), Offline: true}
	for _, tc := range []struct{ spec, want string }{
		{"random:gpt5", "random:gpt5: unknown size"},
		{"./missing", "model folder ./missing does not exist"},
		{"gpt2", "is not in the cache"},
	} {
		if _, err := Open(ctx, tc.spec, Options{Hub: offline}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v, want %q", tc.spec, err, tc.want)
		}
	}
}
