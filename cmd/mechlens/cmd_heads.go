package main

import (
	"context"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

func init() { register(newHeadsCommand()) }

// headsOutput is the JSON of mechlens heads: one of its two results is set.
type headsOutput struct {
	analysisHeader
	Options *lens.OptionAttention `json:"options"` // without --layer/--head
	Pattern *lens.HeadPattern     `json:"pattern"` // with --layer and --head
}

func newHeadsCommand() *cli.Command {
	c := cli.NewCommand("heads", "heads PROMPT [--layer L --head H] [--query POS]", "Attention heads: attention to the answer options, or one head's pattern")
	c.Long = `Without --layer and --head: finds the answer options' letters in the prompt (after --marker,
the tokens " A", " B", ... in order, located through the tokenizer's offsets) and shows, for
every head, the attention weight from the query position (default the last) to each letter.

With --layer and --head: that head's attention pattern from the query position over every
position it can see.`
	c.Example = `  $ mechlens heads --bos "Question: ... Answer Choices: A: Lindsey B: Kristen Answer:"
  $ mechlens heads --model gpt2 "When Mary and John went to the store, John gave a drink to" --layer 9 --head 9`
	mf := addModelFlags(c, analysisProcessing)
	pf := addPromptFlags(c)
	o := &headsOptions{}
	cli.IntVar(c.Flags, &o.layer, "layer", -1, 0, cli.NoLimit, "show this layer's head --head")
	cli.IntVar(c.Flags, &o.head, "head", -1, 0, cli.NoLimit, "show this head of --layer")
	cli.IntVar(c.Flags, &o.query, "query", -1, -cli.NoLimit, cli.NoLimit, "query position (negative counts from the end)")
	cli.TextVar(c.Flags, &o.marker, "marker", lens.DefaultMarker, "text that precedes the answer options")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, opts.color, err = output(io); err != nil {
			return err
		}
		if (opts.layer < 0) != (opts.head < 0) {
			return cli.Usagef("--layer and --head go together")
		}
		if opts.prompt, err = pf.input(io, mf, args); err != nil {
			return err
		}
		return runHeads(ctx, io, opts)
	}
	return c
}

// headsOptions are mechlens heads's flags and prompt; layer and head are -1 for the
// attention to the options.
type headsOptions struct {
	model              modelFlags
	prompt             promptInput
	layer, head, query int
	marker             string
	color              bool
	format             cli.Format
}

// runHeads prints one head's pattern, or every head's attention to the options.
func runHeads(ctx context.Context, io *cli.IO, o headsOptions) error {
	m, ids, err := o.prompt.open(ctx, io, &o.model)
	if err != nil {
		return err
	}
	a := newAnalyzer(ctx, m)
	out := headsOutput{analysisHeader: header(&o.model, m, a.Tokens(ids))}
	var options []lens.Option
	if o.layer < 0 {
		if options, err = a.FindOptions(ids, o.marker); err != nil {
			return err
		}
	}
	tr, err := a.Trace(ids, lens.TraceOptions{Patterns: true})
	if err != nil {
		return err
	}
	var rows *cli.Rows
	if o.layer >= 0 {
		if out.Pattern, err = a.Pattern(tr, o.layer, o.head, o.query); err != nil {
			return err
		}
		rows = view.PatternRows(out.Pattern)
	} else {
		if out.Options, err = a.OptionAttention(tr, options, o.query); err != nil {
			return err
		}
		rows = view.OptionRows(options, out.Options)
	}
	return cli.Write(io, o.format, rows, out, o.color)
}
