package edit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/fsutil"
)

// FormatVersion is the version of the edit-set file format this package writes and reads.
const FormatVersion = 1

// Set is an ordered list of edits tied to the model they were made on.
type Set struct {
	Version    int      `json:"version"`
	Model      ModelRef `json:"model"`
	Processing []string `json:"processing"` // the weight processing the edits were made under
	Edits      []Edit   `json:"edits"`
}

// ModelRef names a model and fingerprints its weights (gpt2.Model.Hash).
type ModelRef struct {
	Name string `json:"name"`
	Hash string `json:"hash"`
}

// NewSet starts an empty set for m, named name.
func NewSet(m *gpt2.Model, name string) *Set {
	return &Set{Version: FormatVersion, Model: ModelRef{name, m.Hash}, Processing: slices.Clone(m.Processing), Edits: []Edit{}}
}

// Load reads a set from a JSON file, refusing unknown versions and fields and checking every
// edit's fields (not yet against a model: Apply does that).
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("edit set %s does not exist", path)
		}
		return nil, fmt.Errorf("edit set: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes a set from JSON; name is used in errors.
func Parse(name string, b []byte) (*Set, error) {
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("edit set %s: not a JSON edit set: %v", name, jsonMessage(err))
	}
	if probe.Version == nil {
		return nil, fmt.Errorf("edit set %s: version is missing", name)
	}
	if *probe.Version != FormatVersion {
		return nil, fmt.Errorf("edit set %s: version %d is not known (this mechlens reads version %d)", name, *probe.Version, FormatVersion)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var s Set
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("edit set %s: %v", name, jsonMessage(err))
	}
	if s.Model.Hash == "" {
		return nil, fmt.Errorf("edit set %s: model.hash is missing", name)
	}
	for i := range s.Edits {
		if err := s.Edits[i].check(); err != nil {
			return nil, fmt.Errorf("edit set %s: edits[%d]: %v", name, i, err)
		}
	}
	if s.Edits == nil {
		s.Edits = []Edit{}
	}
	return &s, nil
}

// jsonMessage drops the Go type names encoding/json puts in its errors.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s: want %s, got a JSON %s", te.Field, jsonKind(te.Type), te.Value)
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return strings.ReplaceAll(msg, "edit.", "")
}

// jsonKind names the JSON value a Go type is read from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	}
	return "another value"
}

// Save writes the set as indented JSON, atomically.
func (s *Set) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("edit set %s: %v", path, err)
	}
	return fsutil.WriteBytesAtomic(path, append(b, '\n'))
}

// Append adds edits to the set after checking their fields against m (ranges, sizes).
func (s *Set) Append(m *gpt2.Model, edits ...Edit) error {
	for _, e := range edits {
		if err := e.validate(m); err != nil {
			return err
		}
	}
	s.Edits = append(s.Edits, edits...)
	return nil
}

// CheckModel refuses a model whose weights are not the ones the set was made on.
func (s *Set) CheckModel(m *gpt2.Model, name string) error {
	if m.Hash != s.Model.Hash {
		return fmt.Errorf("the edit set was made on %s (weights %s), not on %s (weights %s)", s.Model.Name, s.Model.Hash, name, m.Hash)
	}
	return nil
}

// Applied is a set applied to a model; Revert undoes it.
type Applied struct {
	m                    *gpt2.Model
	undo                 []func() // in application order
	hooksFrom, editsFrom int      // len(m.Interventions), len(m.Edits) before
	hooks, edits         int      // how many this application appended
	active               bool
}

// Apply applies every edit of the set to m in place, in order, after checking all of them
// (the model's hash, ranges, portability between s.Processing and m.Processing): on an
// error nothing is applied. To keep the original model, apply to m.Clone().
func (s *Set) Apply(m *gpt2.Model) (*Applied, error) {
	if m.Hash != s.Model.Hash {
		return nil, fmt.Errorf("the edit set was made on %s (weights %s), not on this model (weights %s)", s.Model.Name, s.Model.Hash, m.Hash)
	}
	for i, e := range s.Edits {
		if err := e.validate(m); err != nil {
			return nil, fmt.Errorf("edits[%d]: %v", i, err)
		}
		if err := Portable(e, s.Processing, m.Processing); err != nil {
			return nil, fmt.Errorf("edits[%d]: %v", i, err)
		}
	}
	a := newApplied(m)
	for i, e := range s.Edits {
		if err := a.apply(e); err != nil {
			a.Revert()
			return nil, fmt.Errorf("edits[%d]: %v", i, err)
		}
	}
	return a, nil
}

// ApplyEdit applies one edit to m in place (checked against m, made under m's own
// processing); Revert undoes it.
func ApplyEdit(m *gpt2.Model, e Edit) (*Applied, error) {
	if err := e.validate(m); err != nil {
		return nil, err
	}
	a := newApplied(m)
	if err := a.apply(e); err != nil {
		a.Revert()
		return nil, err
	}
	return a, nil
}

func newApplied(m *gpt2.Model) *Applied {
	return &Applied{m: m, hooksFrom: len(m.Interventions), editsFrom: len(m.Edits), active: true}
}

func (a *Applied) apply(e Edit) error {
	if e.runtime() {
		hs := e.hooks(a.m)
		a.m.Interventions = append(a.m.Interventions, hs...)
		a.hooks += len(hs)
	} else {
		undo, err := e.applyWeights(a.m)
		a.undo = append(a.undo, undo)
		if err != nil {
			return err
		}
	}
	a.m.Edits = append(a.m.Edits, e.String())
	a.edits++
	return nil
}

// Revert restores every weight the application overwrote, bit for bit, and removes its
// interventions and its lines from the model's Edits. Applications are reverted last
// first; reverting out of that order is refused.
func (a *Applied) Revert() error {
	m := a.m
	switch {
	case !a.active:
		return fmt.Errorf("edit: already reverted")
	case len(m.Interventions) != a.hooksFrom+a.hooks || len(m.Edits) != a.editsFrom+a.edits:
		return fmt.Errorf("edit: edits applied after this set must be reverted first")
	}
	for i := len(a.undo) - 1; i >= 0; i-- {
		a.undo[i]()
	}
	m.Interventions = m.Interventions[:a.hooksFrom]
	m.Edits = m.Edits[:a.editsFrom]
	a.active = false
	return nil
}
