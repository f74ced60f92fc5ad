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
token, two dot products per value vector: --by logit ranks by W_U[:,t]·v, --by lens by the
logit lens W_U[:,t]·ln_final(v) + b_U[t]. --suppress lists the lowest scores instead.

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
	o := &neuronsOptions{}
	cli.TextVar(c.Flags, &o.promote, "promote", "", "find the value vectors that most promote this token (exactly one token)")
	cli.ChoiceVar(c.Flags, &o.by, "by", "logit", []string{"logit", "lens"}, "--promote score: logit or lens")
	c.Flags.BoolVar(&o.suppress, "suppress", false, "--promote: list the most suppressing value vectors instead")
	cli.TextVar(c.Flags, &o.correct, "correct", "", "scan: the correct answer's token, e.g. \" B\"")
	cli.TextVar(c.Flags, &o.anchor, "anchor", " A", "scan: the token the model is biased toward")
	cli.FloatVar(c.Flags, &o.gap, "gap", 4, math.Inf(-1), math.Inf(1), "scan: flag neurons whose lens gap anchor − correct exceeds this")
	cli.IntVar(c.Flags, &o.words, "words", 20, 0, cli.NoLimit, "scan: top tokens listed per flagged value vector (0: none)")
	cli.IntVar(c.Flags, &o.heads, "heads", 10, 0, cli.NoLimit, "scan: heads shown in the table (JSON has all; 0: none)")
	cli.IntVar(c.Flags, &o.pos, "pos", -1, -cli.NoLimit, cli.NoLimit, "scan: position read (negative counts from the end)")
	cli.IntVar(c.Flags, &o.top, "top", 0, 1, cli.NoLimit, "value vectors listed (--promote, default 20) or neurons per layer (scan, default 10)")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, opts.color, err = output(io); err != nil {
			return err
		}
		switch {
		case opts.correct != "" && opts.promote == "":
			if opts.prompt, err = pf.input(io, mf, args); err != nil {
				return err
			}
		case opts.promote != "" && opts.correct == "" && (len(args) > 0 || *pf.ids != ""):
			return cli.Usagef("--promote searches the weights: it takes no prompt")
		}
		return runNeurons(ctx, io, opts)
	}
	return c
}

// neuronsOptions are mechlens neurons's flags and prompt (the scan's).
type neuronsOptions struct {
	model                  modelFlags
	prompt                 promptInput
	promote, by            string
	correct, anchor        string
	suppress, color        bool
	gap                    float64
	words, heads, pos, top int
	format                 cli.Format
}

// runNeurons runs the search the options ask for: --promote or the scan of a prompt.
func runNeurons(ctx context.Context, io *cli.IO, o neuronsOptions) error {
	switch {
	case o.promote != "" && o.correct != "":
		return cli.Usagef("--promote and --correct are two different searches: give one")
	case o.promote != "":
		return runPromoters(ctx, io, o)
	case o.correct != "":
		return runNeuronScan(ctx, io, o)
	}
	return cli.Usagef("give --promote TOKEN, or a prompt and --correct TOKEN")
}

func runPromoters(ctx context.Context, io *cli.IO, o neuronsOptions) error {
	m, err := o.model.open(ctx, io)
	if err != nil {
		return err
	}
	t, err := lensTokenID(m, "--promote", o.promote)
	if err != nil {
		return err
	}
	k := o.top
	if k == 0 {
		k = 20
	}
	ps, err := newAnalyzer(ctx, m).Promoters(t, k, o.by, o.suppress)
	if err != nil {
		return err
	}
	rows := view.PromoterRows(ps)
	return cli.Write(io, o.format, rows, neuronsOutput{header(&o.model, m, []lens.Token{}), ps, nil}, false)
}

func runNeuronScan(ctx context.Context, io *cli.IO, o neuronsOptions) error {
	m, ids, err := o.prompt.open(ctx, io, &o.model)
	if err != nil {
		return err
	}
	an, err := lensTokenID(m, "--anchor", o.anchor)
	if err != nil {
		return err
	}
	co, err := lensTokenID(m, "--correct", o.correct)
	if err != nil {
		return err
	}
	if co == an {
		return cli.Usagef("--correct %q is the --anchor: the scan measures one against the other", o.correct)
	}
	a := newAnalyzer(ctx, m)
	tr, err := a.Trace(ids, lens.TraceOptions{Heads: true})
	if err != nil {
		return err
	}
	so := lens.DefaultScan(an, co)
	so.Gap, so.Words, so.Pos = o.gap, o.words, o.pos
	if o.top > 0 {
		so.TopNeurons = o.top
	}
	sc, err := a.Scan(tr, so)
	if err != nil {
		return err
	}
	out := neuronsOutput{header(&o.model, m, a.Tokens(ids)), nil, sc}
	return cli.Write(io, o.format, view.ScanRows(sc, o.heads), out, o.color)
}
