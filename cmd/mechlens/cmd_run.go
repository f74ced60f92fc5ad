package main

import (
	"context"
	"github.com/mechlens/mechlens/internal/tensor"
	"math"
	"sort"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
)

func init() { register(newRunCommand()) }

// tokenProb is one candidate next token.
type tokenProb struct {
	Token string  `json:"token"`
	ID    int     `json:"id"`
	Logit float32 `json:"logit"`
	Prob  float64 `json:"prob"`
}

type runPosition struct {
	Position int         `json:"position"`
	Token    string      `json:"token"` // the input token at this position
	Top      []tokenProb `json:"top"`
}

type runOutput struct {
	Model      string        `json:"model"`
	Processing []string      `json:"processing"`
	Edits      []string      `json:"edits"` // the edits applied (--edits), one line each
	IDs        []int         `json:"ids"`
	Positions  []runPosition `json:"positions"`
}

func newRunCommand() *cli.Command {
	c := cli.NewCommand("run", "run PROMPT [--top K] [--all]", "Predict the next token: top-k tokens with id, logit and probability")
	c.Example = `  $ mechlens run "Question: What is the capital of Veloria? Answer Choices: A: Tarn B: Plex Answer:"
  $ mechlens run --model gpt2 "The Eiffel Tower is in" --top 5 --json`
	mf := addModelFlags(c, "")
	top := cli.Int(c.Flags, "top", 10, 1, cli.NoLimit, "how many tokens to show per position")
	all := c.Flags.Bool("all", false, "show every position, not only the last")
	pf := addPromptFlags(c)
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		m, seq, err := pf.open(ctx, io, mf, args)
		if err != nil {
			return err
		}
		mode := gpt2.LogitsLast
		if *all {
			mode = gpt2.LogitsAll
		}
		res, err := m.Run([][]int{seq}, gpt2.RunOptions{Logits: mode, Context: ctx})
		if err != nil {
			return err
		}
		V := m.Config.DVocab
		out := runOutput{Model: mf.name(), Processing: orEmpty(m.Processing), Edits: orEmpty(m.Edits), IDs: seq}
		first := len(seq) - 1
		if *all {
			first = 0
		}
		for pos := first; pos < len(seq); pos++ {
			row := res.Logits[0]
			if *all {
				row = row[pos*V : (pos+1)*V]
			}
			out.Positions = append(out.Positions, runPosition{Position: pos, Token: tokenText(m, seq[pos]), Top: topK(m, row, *top)})
		}
		rows := &cli.Rows{Header: []string{"pos", "input", "rank", "token", "id", "logit", "prob"}}
		for _, p := range out.Positions {
			for r, t := range p.Top {
				rows.Add(p.Position, cli.Token(p.Token), r+1, cli.Token(t.Token), t.ID, t.Logit, t.Prob)
			}
		}
		return cli.Write(io, f, rows, out, false)
	}
	return c
}

// topK returns the k most likely tokens of one logit row, with softmax probabilities.
func topK(m *gpt2.Model, logits []float32, k int) []tokenProb {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	lse := tensor.LogSumExp(logits)
	k = min(k, len(idx)) // --top has no upper bound: a k past the vocabulary lists it all
	out := make([]tokenProb, 0, k)
	for _, i := range idx[:k] {
		out = append(out, tokenProb{Token: tokenText(m, i), ID: i, Logit: logits[i], Prob: math.Exp(float64(logits[i]) - lse)})
	}
	return out
}

// tokenText is a token's text, or "#id" for models without a vocabulary.
func tokenText(m *gpt2.Model, id int) string {
	if m.Tokenizer == nil {
		return "#" + itoa(id)
	}
	return m.Tokenizer.TokenText(id)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
