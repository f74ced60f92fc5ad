package tui

import (
	"fmt"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
)

// editEntry is one edit of the active list; only those On are applied.
type editEntry struct {
	Edit edit.Edit `json:"edit"`
	On   bool      `json:"on"`
}

// side is which model the lens, heads and neurons panes show once there are edits.
type side int

const (
	sideBase side = iota
	sideEdited
	sideDiff
	nSides
)

var sideNames = [nSides]string{"base", "edited", "edited − base"}

// setEdits replaces the active list, keeping the old one for undo, and recomputes.
func (m *Model) setEdits(list []editEntry) tea.Cmd {
	m.history = append(m.history, m.edits)
	m.edits = list
	m.editRow = min(m.editRow, max(len(list)-1, 0))
	return m.compute()
}

func (m *Model) addEdit(e edit.Edit) tea.Cmd {
	return m.setEdits(append(cloneEdits(m.edits), editEntry{e, true}))
}

func cloneEdits(l []editEntry) []editEntry { return append([]editEntry(nil), l...) }

// editSet is the set of the edits that are on, made on the unedited model.
func (m *Model) editSet() *edit.Set {
	s := edit.NewSet(m.template, m.opts.ModelName)
	for _, e := range m.edits {
		if e.On {
			s.Edits = append(s.Edits, e.Edit)
		}
	}
	return s
}

// editedModel returns a copy-on-write clone of the unedited model for the edits to be
// applied to, or nil when no edit is on. It runs on the UI goroutine: Clone writes to the
// model it copies, which nothing else touches.
func (m *Model) editedModel() (*gpt2.Model, *edit.Set) {
	s := m.editSet()
	if len(s.Edits) == 0 {
		return nil, nil
	}
	return m.template.Clone(), s
}

// selectedUnit is the head or neuron an edit key acts on: the heads pane's head, the
// neurons pane's neuron, or the attribution pane's selected row.
func (m *Model) selectedUnit() (head, neuron *Unit) {
	switch m.pane {
	case paneHeads:
		u := m.head
		return &u, nil
	case paneNeurons:
		u := m.neuron
		return nil, &u
	case paneAttribution:
		if rows := m.attributionRows(); m.attRow < len(rows) && rows[m.attRow].kind != lens.PartMLP {
			return rows[m.attRow].head, rows[m.attRow].neuron // an MLP row opens its top neuron, but edits none
		}
	}
	return nil, nil
}

// scaleEdit scales (0: ablates) the selected unit.
func (m *Model) scaleEdit(f float64) (edit.Edit, error) {
	switch h, n := m.selectedUnit(); {
	case h != nil:
		return edit.ScaleHead(h.Layer, h.Index, f), nil
	case n != nil:
		return edit.ScaleNeuron(n.Layer, n.Index, f), nil
	}
	return edit.Edit{}, fmt.Errorf("select a head or a neuron first (heads, neurons or attribution pane)")
}

// submitEdit builds an edit from a line of input.
func (m *Model) submitEdit(k inputKind, v string) (tea.Cmd, error) {
	var nums []float64
	if k == inputScale || k == inputRule || k == inputSteer {
		for _, s := range strings.Fields(v) {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", s)
			}
			nums = append(nums, x)
		}
	}
	tok := m.template.Tokenizer
	switch k {
	case inputScale:
		if len(nums) != 1 {
			return nil, fmt.Errorf("give one factor")
		}
		e, err := m.scaleEdit(nums[0])
		if err != nil {
			return nil, err
		}
		return m.addEdit(e), nil
	case inputRule:
		_, n := m.selectedUnit()
		if n == nil {
			return nil, fmt.Errorf("the value-vector rule edits a neuron: select one first (neurons or attribution pane)")
		}
		if len(nums) != 2 {
			return nil, fmt.Errorf("give α1 and α2")
		}
		e, err := edit.ValueVectorRule(m.template, n.Layer, n.Index, tok.TokenText(m.target), tok.TokenText(m.distractor), nums[0], nums[1])
		if err != nil {
			return nil, err
		}
		return m.addEdit(e), nil
	case inputSteer:
		if len(nums) != 2 || nums[0] != float64(int(nums[0])) || int(nums[0]) < 0 || int(nums[0]) > m.template.Config.NLayers {
			return nil, fmt.Errorf("give a layer in 0..%d and α", m.template.Config.NLayers)
		}
		dir, err := edit.TokenDirection(m.template, tok.TokenText(m.target), tok.TokenText(m.distractor))
		if err != nil {
			return nil, err
		}
		hook := gpt2.ResidPost(m.template.Config.NLayers - 1)
		if l := int(nums[0]); l < m.template.Config.NLayers {
			hook = gpt2.ResidPre(l)
		}
		return m.addEdit(edit.Steer(hook, -1, []int{m.pos}, nums[1], dir)), nil
	case inputLoad:
		s, err := edit.Load(v)
		if err != nil {
			return nil, err
		}
		if err := s.CheckModel(m.template, m.opts.ModelName); err != nil {
			return nil, err
		}
		list := cloneEdits(m.edits)
		for _, e := range s.Edits {
			list = append(list, editEntry{e, true})
		}
		return m.setEdits(list), nil
	case inputSave:
		if err := m.editSet().Save(v); err != nil {
			return nil, err
		}
		m.status = fmt.Sprintf("saved %d edits to %s (use with --edits)", len(m.editSet().Edits), v)
		return nil, nil
	}
	return nil, nil
}
