package main

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

func init() {
	register(newNeuronCommand())
	register(newNeuronsCommand())
}

// neuronOutput is the JSON of mechlens neuron.
type neuronOutput struct {
	Model       string            `json:"model"`
	Processing  []string          `json:"processing"`
	Edits       []string          `json:"edits"` // the edits applied (--edits), one line each
	ValueVector *lens.ValueVector `json:"value_vector"`
}

func newNeuronCommand() *cli.Command {
	c := cli.NewCommand("neuron", "neuron LAYER.INDEX [--top K]", "Value vector: the tokens an MLP neuron writes toward")
	c.Long = `Projects the value vector of one MLP neuron, W_out[LAYER][INDEX] (the row the neuron's
activation scales and adds to the residual stream), onto the vocabulary: the top and bottom
tokens of W_U·v (as LM-Debugger shows them) and of the logit lens W_U·ln_final(v) + b_U, with
ln_final normalizing v by its own statistics.`
	c.Example = `  $ mechlens neuron 2.100
  $ mechlens neuron --model gpt2 9.1853 --top 20 --json`
	mf := addModelFlags(c, analysisProcessing)
	top := cli.Int(c.Flags, "top", 10, 1, cli.NoLimit, "tokens listed at each end")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		if len(args) != 1 {
			return cli.Usagef("want one neuron LAYER.INDEX, got %d arguments", len(args))
		}
		layer, neuron, err := parseNeuron(args[0])
		if err != nil {
			return err
		}
		m, err := mf.open(ctx, io)
		if err != nil {
			return err
		}
		vv, err := newAnalyzer(ctx, m).ValueVector(layer, neuron, *top)
		if err != nil {
			return err
		}
		rows := view.ValueVectorRows(vv)
		return cli.Write(io, f, rows, neuronOutput{mf.name(), orEmpty(m.Processing), orEmpty(m.Edits), vv}, false)
	}
	return c
}

// parseNeuron reads "LAYER.INDEX", e.g. "9.1853".
func parseNeuron(s string) (layer, neuron int, err error) {
	l, i, ok := strings.Cut(s, ".")
	if ok {
		if layer, err = strconv.Atoi(l); err == nil {
			neuron, err = strconv.Atoi(i)
		}
	}
	if !ok || err != nil {
		return 0, 0, cli.Usagef("neuron %q: want LAYER.INDEX, e.g. 9.1853", s)
	}
	return layer, neuron, nil
}

// neuronsOutput is the JSON of mechlens neurons: one of its two results is set.
type neuronsOutput struct {
	analysisHeader
	Promoters *lens.PromoterSearch `json:"promoters"` // --promote
	Scan      *lens.Scan           `json:"scan"`      // PROMPT --correct
}

func newNeuronsCommand() *cli.Command {
	c := cli.NewCommand("neurons", `neurons --promote TOKEN | neurons PROMPT --correct TOKEN [--anchor TOKEN]`,
		"Find neurons: value vectors that promote a token, or the anchored-bias paper's scan of a prompt")
	c.Long = `Two searches.

--promote TOKEN (no prompt) scores every value vector W_out[L][i] of the model against the
token, in one product per layer: --by logit ranks by W_U[:,t]·v, --by lens by the logit lens
W_U[:,t]·ln_final(v) + b_U[t]. --suppress lists the lowest scores instead.

PROMPT --correct TOKEN runs the method of "Anchored Answers" (Li and Gao 2024) at the last
position (or --pos), layer by layer: the MLP lens W_U[:,t]·ln_final(mlp_out) + b_U[t] for --anchor (" A")
and the correct letter; the --top neurons by |post[i]|·‖W_out[i]‖₂; for each, the lens of
post[i]·W_out[i] + b_out for both tokens, flagged (*) when anchor − correct > --gap; the --words
top tokens of each flagged value vector (ln_final(W_out[i] + b_out)·W_U + b_U); then every head's
output (hook_result) through the same lens, ranked by the gap (--heads of them in the table).
ln_final normalizes each vector by its own statistics. The paper uses TransformerLens's
fold_ln, center_writing_weights and center_unembed (the default --process) and prepends
<|endoftext|> (--bos); it also refactors the attention matrices, which moves b_V into b_O
(add fold_value_biases to --process to match its head outputs).`
	c.Example = `  $ mechlens neurons --promote " A" --top 20
  $ mechlens neurons --bos "Question: ... Answer Choices: A: Lindsey B: Kristen Answer:" --correct " B"`
	mf := addModelFlags(c, analysisProcessing)
	pf := addPromptFlags(c)
	promote := cli.Text(c.Flags, "promote", "", "find the value vectors that most promote this token (exactly one token)")
	by := cli.Choice(c.Flags, "by", "logit", []string{"logit", "lens"}, "--promote score: logit or lens")
	suppress := c.Flags.Bool("suppress", false, "--promote: list the most suppressing value vectors instead")
	correct := cli.Text(c.Flags, "correct", "", "scan: the correct answer's token, e.g. \" B\"")
	anchor := cli.Text(c.Flags, "anchor", " A", "scan: the token the model is biased toward")
	gap := cli.Float(c.Flags, "gap", 4, math.Inf(-1), math.Inf(1), "scan: flag neurons whose lens gap anchor − correct exceeds this")
	words := cli.Int(c.Flags, "words", 20, 0, cli.NoLimit, "scan: top tokens listed per flagged value vector (0: none)")
	heads := cli.Int(c.Flags, "heads", 10, 0, cli.NoLimit, "scan: heads shown in the table (JSON has all; 0: none)")
	pos := cli.Int(c.Flags, "pos", -1, -cli.NoLimit, cli.NoLimit, "scan: position read (negative counts from the end)")
	top := cli.Int(c.Flags, "top", 0, 1, cli.NoLimit, "value vectors listed (--promote, default 20) or neurons per layer (scan, default 10)")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, useColor, err := output(io)
		if err != nil {
			return err
		}
		switch {
		case *promote != "" && *correct != "":
			return cli.Usagef("--promote and --correct are two different searches: give one")
		case *promote != "":
			if len(args) > 0 || *pf.ids != "" {
				return cli.Usagef("--promote searches the weights: it takes no prompt")
			}
			m, err := mf.open(ctx, io)
			if err != nil {
				return err
			}
			t, err := lensTokenID(m, "--promote", *promote)
			if err != nil {
				return err
			}
			k := *top
			if k == 0 {
				k = 20
			}
			ps, err := newAnalyzer(ctx, m).Promoters(t, k, *by, *suppress)
			if err != nil {
				return err
			}
			rows := view.PromoterRows(ps)
			return cli.Write(io, f, rows, neuronsOutput{header(mf, m, []lens.Token{}), ps, nil}, false)
		case *correct != "":
			m, ids, err := pf.open(ctx, io, mf, args)
			if err != nil {
				return err
			}
			an, err := lensTokenID(m, "--anchor", *anchor)
			if err != nil {
				return err
			}
			co, err := lensTokenID(m, "--correct", *correct)
			if err != nil {
				return err
			}
			a := newAnalyzer(ctx, m)
			tr, err := a.Trace(ids, lens.TraceOptions{Heads: true})
			if err != nil {
				return err
			}
			o := lens.DefaultScan(an, co)
			o.Gap, o.Words, o.Pos = *gap, *words, *pos
			if *top > 0 {
				o.TopNeurons = *top
			}
			sc, err := a.Scan(tr, o)
			if err != nil {
				return err
			}
			out := neuronsOutput{header(mf, m, a.Tokens(ids)), nil, sc}
			return cli.Write(io, f, view.ScanRows(sc, *heads), out, useColor)
		}
		return cli.Usagef("give --promote TOKEN, or a prompt and --correct TOKEN")
	}
	return c
}
