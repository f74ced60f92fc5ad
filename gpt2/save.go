package gpt2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mechlens/mechlens/internal/fsutil"
	"github.com/mechlens/mechlens/weights"
)

// SaveDir writes m as a Hugging Face GPT-2 folder, the inverse of LoadDir: config.json,
// model.safetensors (tensors in dtype: F32, F16 or BF16; lm_head.weight only when untied)
// and the tokenizer files when m has a tokenizer. A new folder is filled under a temporary
// name and renamed into place whole; in an existing folder each file is.
//
// A Hugging Face checkpoint holds raw weights only: a processed model (its layer norms
// folded, b_U set) or one with run-time interventions is refused, since transformers would
// load it as something else.
func SaveDir(dir string, m *Model, dtype weights.DType) error {
	switch {
	case len(m.Processing) > 0:
		return fmt.Errorf("gpt2: save %s: the weights are processed (%s), which a Hugging Face checkpoint cannot hold: save the model loaded without processing",
			dir, strings.Join(m.Processing, ", "))
	case m.Params.LMHeadB != nil:
		return fmt.Errorf("gpt2: save %s: the model has an unembedding bias b_U, which GPT-2 checkpoints cannot hold", dir)
	case len(m.Interventions) > 0:
		return fmt.Errorf("gpt2: save %s: the model has %d run-time interventions, which a checkpoint cannot hold", dir, len(m.Interventions))
	case m.Source != "" && sameFolder(dir, m.Source):
		// The checkpoint the user loaded would be replaced by this one, and lost.
		return fmt.Errorf("gpt2: save %s: it is the folder the model was loaded from: save to another folder", dir)
	}
	switch dtype {
	case weights.DTypeF32, weights.DTypeF16, weights.DTypeBF16:
	default:
		return fmt.Errorf("gpt2: save %s: dtype %q: want F32, F16 or BF16", dir, dtype)
	}
	return fsutil.WriteDirAtomic(dir, func(dir string) error {
		cfgJSON, err := m.Config.HFJSON()
		if err != nil {
			return err
		}
		if err := fsutil.WriteBytesAtomic(filepath.Join(dir, "config.json"), append(cfgJSON, '\n')); err != nil {
			return fmt.Errorf("gpt2: save: %w", err)
		}
		names, shapes, data := m.Weights().Named(m.Config)
		ts := make([]weights.Tensor, len(names))
		for i := range names {
			ts[i] = weights.Tensor{Name: names[i], Shape: shapes[i], F32: data[i], DType: dtype}
		}
		// transformers refuses safetensors files without format metadata.
		if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
			return err
		}
		if m.Tokenizer != nil {
			return m.Tokenizer.WriteFiles(dir)
		}
		return nil
	})
}

// SourceDType is the dtype of the matrices in the checkpoint m was loaded from (F32 for
// models that come from no file), so that a model written back keeps its size.
func SourceDType(m *Model) weights.DType {
	if m.Source == "" {
		return weights.DTypeF32
	}
	f, err := weights.OpenSafetensors(filepath.Join(m.Source, "model.safetensors"))
	if err != nil {
		return weights.DTypeF32
	}
	defer f.Close()
	for _, n := range f.Names() {
		if strings.HasSuffix(n, "wte.weight") {
			if info, ok := f.Info(n); ok {
				return info.DType
			}
		}
	}
	return weights.DTypeF32
}

// sameFolder reports whether a and b name one existing folder.
func sameFolder(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
