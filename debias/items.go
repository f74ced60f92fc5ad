package debias

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/gpt2"
)

// Prompt is one item as the model reads it.
type Prompt struct {
	audit.Item
	IDs     []int // token ids, BOS included when the format asks for it
	Letters []int // [options] id of each option's letter token (" A", " B", ...)
}

// Prepare formats and tokenizes items in format f; letters are the space-prefixed labels,
// which must each be one token.
func Prepare(m *gpt2.Model, items []audit.Item, f audit.Format) ([]Prompt, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("debias: the model has no tokenizer")
	}
	labels := f.Labels
	if len(labels) == 0 {
		labels = audit.DefaultLabels()
	}
	var letters []int
	for _, l := range labels {
		id, err := m.Tokenizer.TokenID(" " + l)
		if err != nil {
			break
		}
		letters = append(letters, id)
	}
	out := make([]Prompt, len(items))
	for i, it := range items {
		if len(it.Choices) > len(letters) {
			return nil, fmt.Errorf("debias: item %s: %d options, but only %d labels are single tokens", it.ID, len(it.Choices), len(letters))
		}
		text, err := f.Prompt(it, nil)
		if err != nil {
			return nil, err
		}
		ids := m.Tokenizer.Encode(text)
		if f.BOS {
			ids = append([]int{m.Tokenizer.EOT()}, ids...)
		}
		if len(ids) > m.Config.NCtx {
			return nil, fmt.Errorf("debias: item %s: the prompt has %d tokens, more than the model's context of %d", it.ID, len(ids), m.Config.NCtx)
		}
		out[i] = Prompt{Item: it, IDs: ids, Letters: letters[:len(it.Choices)]}
	}
	return out, nil
}

// Split divides items into a fit and an eval part, about frac of each group going to fit,
// in an order drawn from seed.
func Split(items []audit.Item, frac float64, seed uint64) (fit, eval []audit.Item) {
	byGroup := map[string][]int{}
	var groups []string
	for i, it := range items {
		if _, ok := byGroup[it.Group]; !ok {
			groups = append(groups, it.Group)
		}
		byGroup[it.Group] = append(byGroup[it.Group], i)
	}
	sort.Strings(groups)
	r := rand.New(rand.NewPCG(seed, 0x73706c6974))
	inFit := make([]bool, len(items))
	for _, g := range groups {
		idx := byGroup[g]
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx[:int(float64(len(idx))*frac+0.5)] {
			inFit[i] = true
		}
	}
	for i, it := range items {
		if inFit[i] {
			fit = append(fit, it)
		} else {
			eval = append(eval, it)
		}
	}
	return fit, eval
}
