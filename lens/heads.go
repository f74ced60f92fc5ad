package lens

import (
	"fmt"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
)

// DefaultMarker precedes the answer options in the anchored-bias paper's prompts.
const DefaultMarker = "Answer Choices:"

// Option is the letter token of one answer option in a prompt.
type Option struct {
	Letter string `json:"letter"` // A, B, ...
	Pos    int    `json:"pos"`
	Token  Token  `json:"token"` // " A", " B", ...
}

// TokenSpans returns the text of ids and each token's byte span [start, end) in it: the
// tokenizer's offsets, since byte-level BPE decodes every token to exactly the bytes it
// encoded (<|endoftext|> spans its own name).
func (a *Analyzer) TokenSpans(ids []int) (string, [][2]int) {
	var b strings.Builder
	spans := make([][2]int, len(ids))
	for i, t := range a.Tokens(ids) {
		spans[i][0] = b.Len()
		b.WriteString(t.Text)
		spans[i][1] = b.Len()
	}
	return b.String(), spans
}

// FindOptions finds the answer options of a prompt: after the first marker (e.g. "Answer
// Choices:"), the first token " A", then the first " B" after it, and so on while they
// follow. It errors when the marker or the option A is missing.
func (a *Analyzer) FindOptions(ids []int, marker string) ([]Option, error) {
	if a.Model.Tokenizer == nil {
		return nil, fmt.Errorf("lens: this model has no tokenizer to find the answer options with")
	}
	text, spans := a.TokenSpans(ids)
	at := strings.Index(text, marker)
	if at < 0 {
		return nil, fmt.Errorf("lens: the prompt has no %q before its answer options", marker)
	}
	var opts []Option
	letter := 'A'
	for i, s := range spans {
		if s[0] < at+len(marker) || letter > 'Z' {
			continue
		}
		if text[s[0]:s[1]] == " "+string(letter) {
			opts = append(opts, Option{string(letter), i, a.Token(ids[i])})
			letter++
		}
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("lens: no option \" A\" after %q in the prompt", marker)
	}
	return opts, nil
}

// HeadAttention is one head's attention from the query position to each option.
type HeadAttention struct {
	Layer   int       `json:"layer"`
	Head    int       `json:"head"`
	Weights []float64 `json:"weights"` // one per option, in option order
}

// OptionAttention is every head's attention to the answer options.
type OptionAttention struct {
	Query   int             `json:"query"`
	Options []Option        `json:"options"`
	Heads   []HeadAttention `json:"heads"` // layer-major
}

// OptionAttention reads, for every head, the attention weight from the query position
// (negative counts from the end) to each option's letter. The trace must keep the patterns.
func (a *Analyzer) OptionAttention(tr *Trace, options []Option, query int) (*OptionAttention, error) {
	c := a.Model.Config
	q, err := tr.Position(query)
	if err != nil {
		return nil, err
	}
	oa := &OptionAttention{Query: q, Options: options}
	T := tr.T()
	for l := range c.NLayers {
		pat, err := tr.get(gpt2.Pattern(l)) // [H, T, T]
		if err != nil {
			return nil, err
		}
		for h := range c.NHeads {
			ha := HeadAttention{Layer: l, Head: h, Weights: make([]float64, len(options))}
			for i, o := range options {
				if o.Pos < 0 || o.Pos >= T {
					return nil, fmt.Errorf("lens: option %s at position %d is outside the prompt's %d tokens", o.Letter, o.Pos, T)
				}
				ha.Weights[i] = float64(pat[(h*T+q)*T+o.Pos])
			}
			oa.Heads = append(oa.Heads, ha)
		}
	}
	return oa, nil
}

// KeyWeight is the attention paid to one key position.
type KeyWeight struct {
	Pos    int     `json:"pos"`
	Token  Token   `json:"token"`
	Weight float64 `json:"weight"`
}

// HeadPattern is one head's attention pattern from one query position.
type HeadPattern struct {
	Layer int         `json:"layer"`
	Head  int         `json:"head"`
	Query int         `json:"query"`
	Keys  []KeyWeight `json:"keys"` // positions 0..Query (later ones are masked)
}

// Pattern returns head (layer, head)'s attention from the query position (negative counts
// from the end) over the positions it can see. The trace must keep the patterns.
func (a *Analyzer) Pattern(tr *Trace, layer, head, query int) (*HeadPattern, error) {
	c := a.Model.Config
	if layer < 0 || layer >= c.NLayers || head < 0 || head >= c.NHeads {
		return nil, fmt.Errorf("lens: head %d.%d: the model has layers 0..%d and heads 0..%d", layer, head, c.NLayers-1, c.NHeads-1)
	}
	q, err := tr.Position(query)
	if err != nil {
		return nil, err
	}
	pat, err := tr.get(gpt2.Pattern(layer))
	if err != nil {
		return nil, err
	}
	T := tr.T()
	hp := &HeadPattern{Layer: layer, Head: head, Query: q}
	for k := 0; k <= q; k++ {
		hp.Keys = append(hp.Keys, KeyWeight{k, a.Token(tr.IDs[k]), float64(pat[(head*T+q)*T+k])})
	}
	return hp, nil
}
