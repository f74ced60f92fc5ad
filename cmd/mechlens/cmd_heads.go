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
	layer := cli.Int(c.Flags, "layer", -1, 0, cli.NoLimit, "show this layer's head --head")
	head := cli.Int(c.Flags, "head", -1, 0, cli.NoLimit, "show this head of --layer")
	query := cli.Int(c.Flags, "query", -1, -cli.NoLimit, cli.NoLimit, "query position (negative counts from the end)")
	marker := cli.Text(c.Flags, "marker", lens.DefaultMarker, "text that precedes the answer options")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, useColor, err := output(io)
		if err != nil {
			return err
		}
		if (*layer < 0) != (*head < 0) {
			return cli.Usagef("--layer and --head go together")
		}
		m, ids, err := pf.open(ctx, io, mf, args)
		if err != nil {
			return err
		}
		a := newAnalyzer(ctx, m)
		out := headsOutput{analysisHeader: header(mf, m, a.Tokens(ids))}
		var options []lens.Option
		if *layer < 0 {
			if options, err = a.FindOptions(ids, *marker); err != nil {
				return err
			}
		}
		tr, err := a.Trace(ids, lens.TraceOptions{Patterns: true})
		if err != nil {
			return err
		}
		var rows *cli.Rows
		if *layer >= 0 {
			if out.Pattern, err = a.Pattern(tr, *layer, *head, *query); err != nil {
				return err
			}
			rows = view.PatternRows(out.Pattern)
		} else {
			if out.Options, err = a.OptionAttention(tr, options, *query); err != nil {
				return err
			}
			rows = view.OptionRows(options, out.Options)
		}
		return cli.Write(io, f, rows, out, useColor)
	}
	return c
}
