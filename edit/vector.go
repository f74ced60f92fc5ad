package edit

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/mechlens/mechlens/weights"
)

// ReadVector reads a vector from a file: a JSON array of numbers, or a safetensors file
// holding one tensor (FILE.safetensors:NAME picks one of several), flattened.
func ReadVector(spec string) ([]float32, error) {
	path, name, _ := strings.Cut(spec, ".safetensors:")
	if name != "" || strings.HasSuffix(spec, ".safetensors") {
		if name != "" {
			path += ".safetensors"
		}
		f, err := weights.OpenSafetensors(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if name == "" {
			if len(f.Names()) != 1 {
				return nil, fmt.Errorf("vector file %s holds %d tensors: name one as %s:NAME", path, len(f.Names()), path)
			}
			name = f.Names()[0]
		}
		v, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("vector file %s: %v", path, err)
		}
		return append([]float32(nil), v...), nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("vector file: %w", err)
	}
	var v []float32
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("vector file %s: want a JSON array of numbers or a .safetensors file", spec)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("vector file %s: the vector is empty", spec)
	}
	return v, nil
}
