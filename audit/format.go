package audit

import (
	"fmt"
	"os"
	"strings"
	"text/template"
)

// DefaultTemplate is the anchored-bias paper's prompt: "Question: {q} Answer Choices: A: {c1}
// B: {c2} ... Answer:".
const DefaultTemplate = `Question: {{.Question}} Answer Choices:{{range .Options}} {{.Marker}} {{.Text}}{{end}} Answer:`

// DefaultStyle writes an option's label as "A:".
const DefaultStyle = "A:"

// Format says how an item becomes a prompt.
type Format struct {
	// Template is Go text/template text executed on a PromptData; "" means DefaultTemplate.
	Template string `json:"template"`
	// Style is how a label is written in the prompt: "A:", "(A)", "A." or any text with one
	// "A", which the label replaces; "" means DefaultStyle.
	Style string `json:"style"`
	// Labels name the option positions; nil means A, B, C, ... Z.
	Labels []string `json:"labels"`
	// BOS prepends <|endoftext|>, as the paper (TransformerLens's default) does.
	BOS bool `json:"bos"`
}

// PromptData is what a template sees.
type PromptData struct {
	Question string
	Options  []Option // in the order shown
	N        int      // len(Options)
}

// Option is one shown option.
type Option struct {
	Label  string // "A"
	Marker string // the label in the style: "A:", "(A)", ...
	Text   string
	Index  int // its index in the item's Choices (before permutation)
}

// styleNames are short names accepted for Style.
var styleNames = map[string]string{"colon": "A:", "paren": "(A)", "dot": "A."}

// DefaultLabels returns A..Z.
func DefaultLabels() []string {
	out := make([]string, maxChoices)
	for i := range out {
		out[i] = string(rune('A' + i))
	}
	return out
}

// ReadTemplate reads a template file and checks that it parses.
func ReadTemplate(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	if _, err := template.New(path).Option("missingkey=error").Parse(string(b)); err != nil {
		return "", fmt.Errorf("audit: %s: %w", path, err)
	}
	return string(b), nil
}

// formatter is a Format ready to render.
type formatter struct {
	tmpl   *template.Template
	style  string
	labels []string
	bos    bool
}

// Check reports what is wrong with the letter style or the labels, so that a command can
// refuse them before loading a model.
func (f Format) Check() error {
	_, err := f.normalize()
	return err
}

// normalize fills the defaults and checks the fields.
func (f Format) normalize() (Format, error) {
	if f.Template == "" {
		f.Template = DefaultTemplate
	}
	if f.Style == "" {
		f.Style = DefaultStyle
	}
	if s, ok := styleNames[f.Style]; ok {
		f.Style = s
	}
	if strings.Count(f.Style, "A") != 1 {
		return f, fmt.Errorf("audit: letter style %q must contain the letter A exactly once (A:, (A), A.)", f.Style)
	}
	if len(f.Labels) == 0 {
		f.Labels = DefaultLabels()
	}
	seen := map[string]bool{}
	for _, l := range f.Labels {
		if l == "" || strings.TrimSpace(l) != l || seen[l] {
			return f, fmt.Errorf("audit: labels %q: each must be non-empty, distinct and without spaces", f.Labels)
		}
		seen[l] = true
	}
	return f, nil
}

func (f Format) compile() (*formatter, error) {
	f, err := f.normalize()
	if err != nil {
		return nil, err
	}
	t, err := template.New("prompt").Option("missingkey=error").Parse(f.Template)
	if err != nil {
		return nil, fmt.Errorf("audit: template: %w", err)
	}
	return &formatter{tmpl: t, style: f.Style, labels: f.Labels, bos: f.BOS}, nil
}

// Prompt renders item it with its options shown in order (order[i] = index in Choices of
// the option at position i; nil: the item's own order).
func (f Format) Prompt(it Item, order []int) (string, error) {
	fm, err := f.compile()
	if err != nil {
		return "", err
	}
	return fm.render(it, order)
}

func (fm *formatter) render(it Item, order []int) (string, error) {
	if order == nil {
		order = identity(len(it.Choices))
	}
	if len(order) > len(fm.labels) {
		return "", fmt.Errorf("audit: item %s: %d options but only %d labels", it.ID, len(order), len(fm.labels))
	}
	d := PromptData{Question: it.Question, N: len(order), Options: make([]Option, len(order))}
	for i, j := range order {
		l := fm.labels[i]
		d.Options[i] = Option{Label: l, Marker: strings.Replace(fm.style, "A", l, 1), Text: it.Choices[j], Index: j}
	}
	var b strings.Builder
	if err := fm.tmpl.Execute(&b, d); err != nil {
		// text/template names the Go type (audit.PromptData); users know the fields.
		msg := strings.Replace(err.Error(), "in type audit.PromptData", "(a template has .Question, .Options[].Label/.Marker/.Text/.Index and .N)", 1)
		return "", fmt.Errorf("audit: item %s: template: %s", it.ID, msg)
	}
	return b.String(), nil
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// The permutation modes.
const (
	PermuteNone   = "none"
	PermuteCyclic = "cyclic"
	PermuteAll    = "all"
)

// maxPermuteAll is the most options --permute all accepts (5! = 120 orders per item).
const maxPermuteAll = 5

// Permutations lists the orders an item of n options is shown in: order[i] is the index
// of the option shown at position i. The first is always the item's own order. Cyclic
// rotation r shows option j at position (j+r) mod n; "all" lists every permutation in
// lexicographic order.
func Permutations(n int, mode string) ([][]int, error) {
	switch mode {
	case "", PermuteNone:
		return [][]int{identity(n)}, nil
	case PermuteCyclic:
		out := make([][]int, n)
		for r := range out {
			p := make([]int, n)
			for i := range p {
				p[i] = (i - r + n) % n
			}
			out[r] = p
		}
		return out, nil
	case PermuteAll:
		if n > maxPermuteAll {
			return nil, fmt.Errorf("audit: --permute all takes at most %d options, an item has %d", maxPermuteAll, n)
		}
		var out [][]int
		var rec func(p []int, used []bool)
		rec = func(p []int, used []bool) {
			if len(p) == n {
				out = append(out, append([]int(nil), p...))
				return
			}
			for j := 0; j < n; j++ {
				if !used[j] {
					used[j] = true
					rec(append(p, j), used)
					used[j] = false
				}
			}
		}
		rec(make([]int, 0, n), make([]bool, n))
		return out, nil
	}
	return nil, fmt.Errorf("audit: permutation mode %q: want none, cyclic or all", mode)
}
