package edit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/weights"
)

// ReadVector reads a vector from a file: a JSON array of numbers, or a safetensors file
// holding one tensor (FILE.safetensors:NAME picks one of several), flattened;
// FILE.safetensors:NAME[i] takes row i of a tensor (negative from the end), e.g. one
// position's activation of a file that `mechlens trace` wrote.
func ReadVector(spec string) ([]float32, error) {
	path, name, _ := strings.Cut(spec, ".safetensors:")
	row, hasRow := 0, false
	if i := strings.LastIndex(name, "["); i >= 0 && strings.HasSuffix(name, "]") {
		r, err := strconv.Atoi(name[i+1 : len(name)-1])
		if err != nil {
			return nil, fmt.Errorf("vector %s: %q is not a row index", spec, name[i:])
		}
		name, row, hasRow = name[:i], r, true
	}
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
		if hasRow {
			info, _ := f.Info(name)
			if len(info.Shape) < 2 {
				return nil, fmt.Errorf("vector %s: %s has shape %v: no rows to pick", spec, name, info.Shape)
			}
			n := info.Shape[0]
			if row < 0 {
				row += n
			}
			if row < 0 || row >= n {
				return nil, fmt.Errorf("vector %s: row outside [0, %d)", spec, n)
			}
			w := len(v) / n
			v = v[row*w : (row+1)*w]
		}
		return append([]float32(nil), v...), nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("vector file: %w", err)
	}
	var v []float32
	if err := json.Unmarshal(b, &v); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && strings.HasPrefix(te.Value, "number ") {
			return nil, fmt.Errorf("vector file %s: %s is past float32's range", spec, strings.TrimPrefix(te.Value, "number "))
		}
		return nil, fmt.Errorf("vector file %s: want a JSON array of numbers or a .safetensors file", spec)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("vector file %s: the vector is empty", spec)
	}
	return v, nil
}
