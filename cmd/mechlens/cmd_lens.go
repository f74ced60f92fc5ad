package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

func init() { register(newLensCommand()) }

// lensOutput is the JSON of mechlens lens.
type lensOutput struct {
	analysisHeader
	lens.LogitLens
}

func newLensCommand() *cli.Command {
	c := cli.NewCommand("lens", "lens PROMPT [--target TOKEN]... [--pos last|all|LIST] [--norm own|final-scale]",
		"Logit lens: what the residual stream predicts at every layer")
	c.Long = `Projects the residual stream onto the vocabulary at every layer boundary: each block's
resid_pre and (with --mid, the default) resid_mid, then the final residual, for the chosen
positions, all in one batched product with W_U. Each row shows the top tokens with their
probabilities, the entropy, the KL divergence KL(final ‖ layer) in nats, and for each --target
its logit, probability and rank (1 = most likely).

--norm own (the usual logit lens) passes each vector through ln_final with its own mean and
variance; --norm final-scale divides it by the final residual's ln_final scale at that
position, which makes the lens affine in the stream, so that differences between layers are the
blocks' direct contributions. Weights are processed as TransformerLens does (fold_ln,
center_writing_weights, center_unembed) unless --process none.`
	c.Example = `  $ mechlens lens --bos "Question: ... Answer Choices: A: Lindsey B: Kristen Answer:" --target " A" --target " B"
  $ mechlens lens "The Eiffel Tower is in" --pos all --top 1 --csv`
	mf := addModelFlags(c, analysisProcessing)
	pf := addPromptFlags(c)
	o := &lensOptions{}
	cli.TextListVar(c.Flags, &o.targets, "target", "a token to follow (exactly one token, e.g. \" A\"); repeatable")
	cli.IntVar(c.Flags, &o.top, "top", 5, 1, cli.NoLimit, "top tokens listed per row")
	cli.ChoiceVar(c.Flags, &o.norm, "norm", string(lens.NormOwn), []string{string(lens.NormOwn), string(lens.NormFinalScale)}, "normalization: own or final-scale")
	cli.TextVar(c.Flags, &o.pos, "pos", "last", "positions: last, all, or a comma-separated list (negative counts from the end)")
	c.Flags.BoolVar(&o.mid, "mid", true, "also read each block's resid_mid")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, opts.color, err = output(io); err != nil {
			return err
		}
		if opts.prompt, err = pf.input(io, mf, args); err != nil {
			return err
		}
		return runLens(ctx, io, opts)
	}
	return c
}

// lensOptions are mechlens lens's flags and prompt.
type lensOptions struct {
	model      modelFlags
	prompt     promptInput
	targets    []string
	norm, pos  string
	top        int
	mid, color bool
	format     cli.Format
}

// runLens prints the logit lens of the prompt.
func runLens(ctx context.Context, io *cli.IO, o lensOptions) error {
	n, err := lens.ParseNorm(o.norm)
	if err != nil {
		return err
	}
	positions, err := lensPositions(o.pos)
	if err != nil {
		return err
	}
	m, ids, err := o.prompt.open(ctx, io, &o.model)
	if err != nil {
		return err
	}
	tids, err := lensTokenIDs(m, "--target", o.targets)
	if err != nil {
		return err
	}
	a := newAnalyzer(ctx, m)
	tr, err := a.Trace(ids, lens.TraceOptions{})
	if err != nil {
		return err
	}
	ll, err := a.LogitLens(tr, lens.LensOptions{Norm: n, TopK: o.top, Targets: tids, Positions: positions, Mid: o.mid})
	if err != nil {
		return err
	}
	out := lensOutput{analysisHeader: header(&o.model, m, a.Tokens(ids)), LogitLens: *ll}
	rows := view.LensRows(ll, m.Config, out.Tokens, a.Tokens(tids), o.format == cli.CSV)
	return cli.Write(io, o.format, rows, out, o.color)
}

// The helpers below are shared by the lens, attribute, neuron(s), heads and patch commands.

// lensTokenID reads a flag's token text, which must be exactly one token of the model.
func lensTokenID(m *gpt2.Model, flag, text string) (int, error) {
	if m.Tokenizer == nil {
		return 0, fmt.Errorf("%s: this model has no tokenizer to read %q", flag, text)
	}
	id, err := m.Tokenizer.TokenID(text)
	if err != nil {
		return 0, cli.Usagef("%s: %v", flag, err)
	}
	return id, nil
}

func lensTokenIDs(m *gpt2.Model, flag string, texts []string) ([]int, error) {
	ids := make([]int, len(texts))
	for i, s := range texts {
		var err error
		if ids[i], err = lensTokenID(m, flag, s); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// lensPositions parses --pos: "last", "all" (nil) or a comma-separated list of positions.
func lensPositions(s string) ([]int, error) {
	switch s {
	case "last":
		return []int{-1}, nil
	case "all":
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, cli.Usagef("--pos: %q is not last, all or a position", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// addLensOutputFlags adds --json, --csv and --color auto|always|never to an analysis
// command and returns what a run asked for: the format, and whether to shade table cells
// (auto: when stdout is a terminal).
func addLensOutputFlags(c *cli.Command) func(io *cli.IO) (cli.Format, bool, error) {
	format := cli.OutputFlags(c)
	mode := cli.Choice(c.Flags, "color", "auto", []string{"auto", "always", "never"}, "shade table cells: auto (when stdout is a terminal), always or never")
	return func(io *cli.IO) (cli.Format, bool, error) {
		f, err := format()
		if err != nil {
			return 0, false, err
		}
		switch *mode {
		case "always":
			return f, true, nil
		case "never":
			return f, false, nil
		}
		out, ok := io.Out.(*os.File)
		return f, ok && cli.IsTerminal(out), nil
	}
}

// analysisHeader opens the JSON of every analysis command: what was analysed, on which
// weights. Embedded, its fields stand at the top level of each output.
type analysisHeader struct {
	Model      string       `json:"model"`
	Processing []string     `json:"processing"`
	Edits      []string     `json:"edits"` // the edits applied (--edits), one line each
	Tokens     []lens.Token `json:"tokens"`
}

func header(mf *modelFlags, m *gpt2.Model, tokens []lens.Token) analysisHeader {
	return analysisHeader{Model: mf.name(), Processing: orEmpty(m.Processing), Edits: orEmpty(m.Edits), Tokens: tokens}
}
