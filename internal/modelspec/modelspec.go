// Package modelspec turns what a user types after --model into a loaded model: nothing (the
// embedded default), a local folder, random:NAME or random:CONFIG.json (seeded Hugging Face
// initialisation), or a hub name (gpt2, gpt2-medium, owner/name@revision) fetched through
// the hub client and its cache. It is the only place that decides where weights come from.
// It embeds no model itself: the caller passes the embedded model and the tokenizers random
// models may borrow (the command layer wires toy's organism and gpt2tok), so what Open does
// depends on its arguments, not on which packages are linked.
package modelspec

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/weights"
)

// Options refine how a model is opened.
type Options struct {
	Seed uint64       // for random: models
	Hub  *weights.Hub // nil: weights.HubFromEnv()
	// Embedded loads the model named by "" and DefaultName; nil: this program embeds none.
	Embedded func() (*gpt2.Model, error)
	// Tokenizer for random: models (they have no vocabulary of their own). When nil, the
	// first of Tokenizers whose vocabulary size is the config's is used; with none, the
	// model has no tokenizer.
	Tokenizer  *gpt2.Tokenizer
	Tokenizers []func() (*gpt2.Tokenizer, error)
}

// DefaultName is how outputs name the embedded model.
const DefaultName = "mechlens-organism"

// Open loads the model named by spec.
func Open(ctx context.Context, spec string, o Options) (*gpt2.Model, error) {
	switch {
	case spec == "" || spec == DefaultName:
		if o.Embedded == nil {
			return nil, fmt.Errorf("no embedded model in this build; pass --model")
		}
		return o.Embedded()
	case strings.HasPrefix(spec, "random:"):
		return random(strings.TrimPrefix(spec, "random:"), o)
	}
	if st, err := os.Stat(spec); err == nil && st.IsDir() {
		return gpt2.LoadDir(spec)
	}
	if strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "/") {
		return nil, fmt.Errorf("model folder %s does not exist", spec)
	}
	h := o.Hub
	if h == nil {
		h = weights.HubFromEnv()
	}
	dir, err := h.Snapshot(ctx, spec)
	if err != nil {
		return nil, err
	}
	return gpt2.LoadDir(dir)
}

func random(name string, o Options) (*gpt2.Model, error) {
	cfg, ok := gpt2.Presets[name]
	if !ok {
		if !strings.HasSuffix(name, ".json") {
			return nil, fmt.Errorf("random:%s: unknown size (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or a config.json path)", name)
		}
		var err error
		if cfg, err = gpt2.ReadConfig(name); err != nil {
			return nil, err
		}
	}
	tok := o.Tokenizer
	for _, load := range o.Tokenizers {
		if tok != nil {
			break
		}
		t, err := load()
		if err != nil {
			return nil, err
		}
		if t.VocabSize() == cfg.DVocab {
			tok = t
		}
	}
	return gpt2.RandomModel(cfg, o.Seed, tok), nil
}
