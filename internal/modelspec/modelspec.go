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
	"path/filepath"
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
	// Load says how the weights are packed (float32 or bfloat16 matrices). A folder or hub
	// model is packed so from the file; a random one from its float32 draw; the embedded one
	// is converted after loading.
	Load gpt2.LoadOptions
}

// DefaultName is how outputs name the embedded model.
const DefaultName = "mechlens-organism"

// IsDefault reports whether spec names the embedded model: omitted or by its name. Every
// choice that depends on the model being the embedded one (--bos, the audit's task) asks
// this, so that the two spellings behave the same.
func IsDefault(spec string) bool { return spec == "" || spec == DefaultName }

// Open loads the model named by spec.
func Open(ctx context.Context, spec string, o Options) (*gpt2.Model, error) {
	switch {
	case IsDefault(spec):
		if o.Embedded == nil {
			return nil, fmt.Errorf("no embedded model in this build; pass --model")
		}
		m, err := o.Embedded()
		if err == nil {
			m.SetWeightType(o.Load.Weights)
		}
		return m, err
	case strings.HasPrefix(spec, "random:"):
		return random(strings.TrimPrefix(spec, "random:"), o)
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	if looksLikePath(spec) {
		return gpt2.LoadDirWith(ctx, home(spec), o.Load)
	}
	h := o.Hub
	if h == nil {
		h = weights.HubFromEnv()
	}
	dir, err := h.Snapshot(ctx, spec)
	if err != nil {
		return nil, err
	}
	return gpt2.LoadDirWith(ctx, dir, o.Load)
}

// Check makes the checks of Open that cost nothing, so that a command given several models
// refuses a mistyped one before it works on the first: a folder that does not exist or is a
// file, a hub name that is also a local folder, an unknown random: size. What a hub name
// names, and whether a folder holds a model, only Open finds out.
func Check(spec string) error {
	if IsDefault(spec) {
		return nil
	}
	if name, ok := strings.CutPrefix(spec, "random:"); ok {
		if _, known := gpt2.Presets[name]; !known && !strings.HasSuffix(name, ".json") {
			return fmt.Errorf("random:%s: unknown size (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or a config.json path)", name)
		}
		return nil
	}
	st, statErr := os.Stat(home(spec))
	if looksLikePath(spec) {
		switch {
		case statErr == nil && !st.IsDir():
			return fmt.Errorf("model folder %s is a file, not a folder", spec)
		case statErr != nil:
			return fmt.Errorf("model folder %s does not exist", spec)
		}
		return nil
	}
	if statErr == nil && st.IsDir() {
		// "gpt2" would silently load a local ./gpt2 instead of the hub model (or the other way
		// round): the user says which.
		return fmt.Errorf("%q names both a hub model and the folder ./%s: write ./%s for the folder, or run elsewhere for the hub model", spec, spec, spec)
	}
	return nil
}

// home expands a leading ~/ as a shell would: --model=~/x reaches mechlens unexpanded.
func home(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if dir, err := os.UserHomeDir(); err == nil {
			return filepath.Join(dir, rest)
		}
	}
	return path
}

// looksLikePath reports whether spec is written as a path (./x, ../x, /x, ~/x) rather than a hub
// name (gpt2, owner/name@rev).
func looksLikePath(spec string) bool {
	return strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "~") || filepath.IsAbs(spec)
}

func random(name string, o Options) (*gpt2.Model, error) {
	if err := Check("random:" + name); err != nil {
		return nil, err
	}
	cfg, ok := gpt2.Presets[name]
	if !ok {
		var err error
		if cfg, err = gpt2.ReadConfig(name); err != nil {
			return nil, err
		}
	}
	// The random weights are drawn as float32 whatever the model keeps.
	if err := gpt2.CheckMemory(cfg, gpt2.F32); err != nil {
		return nil, fmt.Errorf("random:%s: %w", name, err)
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
	return gpt2.RandomModelWith(cfg, o.Seed, tok, o.Load), nil
}
