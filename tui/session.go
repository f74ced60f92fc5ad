package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/internal/fsutil"
	"github.com/mechlens/mechlens/lens"
)

// Session is what `--session FILE` saves and reopens: the prompt, the tokens compared, the
// cursor and the pane with its selections. Tokens are saved as text, so that a session reads
// the same under any model with the same tokenizer.
type Session struct {
	Version    int       `json:"version"`
	Model      string    `json:"model"`
	Prompt     string    `json:"prompt"`
	BOS        bool      `json:"bos"`
	Pos        int       `json:"pos"`
	Target     string    `json:"target"`
	Distractor string    `json:"distractor"`
	Pane       string    `json:"pane"`
	Norm       lens.Norm `json:"norm"`
	Head       [2]int    `json:"head"`   // layer, head
	Neuron     [2]int    `json:"neuron"` // layer, index
	// Edits are the active edit list, each on or off.
	Edits []editEntry `json:"edits"`
}

const sessionVersion = 1

func (m *Model) session() Session {
	s := Session{Version: sessionVersion, Model: m.opts.ModelName, Prompt: m.prompt, BOS: m.bos, Pos: m.pos,
		Pane: m.pane.String(), Norm: m.norm, Head: [2]int{m.head.Layer, m.head.Index}, Neuron: [2]int{m.neuron.Layer, m.neuron.Index}, Edits: cloneEdits(m.edits)}
	if m.target >= 0 && m.distractor >= 0 {
		s.Target, s.Distractor = m.base.Tokenizer.TokenText(m.target), m.base.Tokenizer.TokenText(m.distractor)
	}
	return s
}

func (m *Model) saveSession(path string) error {
	b, err := json.MarshalIndent(m.session(), "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(path, append(b, '\n'))
}

// LoadSession reads a session file; a missing file is no session (ok false), not an error,
// so that --session names the file a first run creates.
func LoadSession(path string) (s Session, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("--session: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, fmt.Errorf("--session: %s: %v", path, err)
	}
	if s.Version != sessionVersion {
		return s, false, fmt.Errorf("--session: %s: version %d, this mechlens reads version %d", path, s.Version, sessionVersion)
	}
	return s, true, nil
}

// Restore puts the browser in the state of a saved session.
func (m *Model) Restore(s Session) error {
	m.bos = s.BOS
	if err := m.setPrompt(s.Prompt); err != nil {
		return fmt.Errorf("--session: %v", err)
	}
	c := m.base.Config
	if s.Pos >= 0 && s.Pos < len(m.ids) {
		m.pos = s.Pos
	}
	for p := range nPanes {
		if p.String() == s.Pane {
			m.pane = p
		}
	}
	if n, err := lens.ParseNorm(string(s.Norm)); err == nil {
		m.norm = n
	}
	if s.Head[0] >= 0 && s.Head[0] < c.NLayers && s.Head[1] >= 0 && s.Head[1] < c.NHeads {
		m.head = Unit{s.Head[0], s.Head[1]}
	}
	if s.Neuron[0] >= 0 && s.Neuron[0] < c.NLayers && s.Neuron[1] >= 0 && s.Neuron[1] < c.DMLP {
		m.neuron = Unit{s.Neuron[0], s.Neuron[1]}
	}
	if len(s.Edits) > 0 {
		set := edit.NewSet(m.template, m.opts.ModelName)
		for _, e := range s.Edits {
			set.Edits = append(set.Edits, e.Edit)
		}
		if _, err := set.Apply(m.template.Clone()); err != nil { // checks every edit against this model
			return fmt.Errorf("--session: edits: %v", err)
		}
		m.edits = append(m.edits, s.Edits...)
	}
	if s.Target != "" && s.Distractor != "" {
		t, err := m.base.Tokenizer.TokenID(s.Target)
		if err != nil {
			return fmt.Errorf("--session: target: %v", err)
		}
		d, err := m.base.Tokenizer.TokenID(s.Distractor)
		if err != nil {
			return fmt.Errorf("--session: distractor: %v", err)
		}
		m.target, m.distractor = t, d
	}
	return nil
}
