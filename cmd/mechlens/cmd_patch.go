package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

func init() { register(newPatchCommand()) }

// patchOutput is the JSON of mechlens patch.
type patchOutput struct {
	Model         string       `json:"model"`
	Processing    []string     `json:"processing"`
	Edits         []string     `json:"edits"` // the edits applied (--edits), one line each
	CleanTokens   []lens.Token `json:"clean_tokens"`
	CorruptTokens []lens.Token `json:"corrupt_tokens"`
	lens.Patching
}

func newPatchCommand() *cli.Command {
	c := cli.NewCommand("patch", `patch --clean PROMPT --corrupt PROMPT --target TOKEN [--baseline TOKEN] [--sites resid,heads,mlp]`,
		"Activation patching: which activations carry the answer from a clean prompt")
	c.Long = `Runs the corrupted prompt once per site with that site's activation copied from the clean
prompt, and reports the metric logit(--target) − logit(--baseline) at the last position and
the recovered fraction (patched − corrupt)/(clean − corrupt): 1 when the site alone restores the
clean answer, 0 when it does nothing. Sites: resid (each block's resid_pre at each position,
--pos to choose positions), heads (each head's output hook_z at every position), mlp (each
block's hook_mlp_out at every position). The prompts must have the same number of tokens.`
	c.Example = `  $ mechlens patch --clean "... A: Lindsey B: Kristen Answer:" --corrupt "... A: Kristen B: Lindsey Answer:" --target " A" --baseline " B"
  $ mechlens patch --clean-ids 1,2,3 --corrupt-ids 1,5,3 --target " the" --sites mlp --json`
	mf := addModelFlags(c, analysisProcessing)
	o := &patchOptions{}
	cli.TextVar(c.Flags, &o.clean, "clean", "", "the clean prompt")
	cli.TextVar(c.Flags, &o.corrupt, "corrupt", "", "the corrupted prompt (same number of tokens)")
	cli.TextVar(c.Flags, &o.cleanIDs, "clean-ids", "", "comma-separated token ids instead of --clean")
	cli.TextVar(c.Flags, &o.corruptIDs, "corrupt-ids", "", "comma-separated token ids instead of --corrupt")
	bos := addBOSFlag(c)
	cli.TextVar(c.Flags, &o.target, "target", "", "the metric's token (exactly one token; required)")
	cli.TextVar(c.Flags, &o.baseline, "baseline", "", "subtract this token's logit in the metric")
	cli.ListVar(c.Flags, &o.sites, "sites", "resid,heads,mlp", []string{"resid", "heads", "mlp"}, "comma-separated: resid, heads, mlp")
	cli.TextVar(c.Flags, &o.pos, "pos", "all", "resid positions: all, last, or a comma-separated list")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model, opts.bos = *mf, bos.want(mf)
		var err error
		if opts.format, opts.color, err = output(io); err != nil {
			return err
		}
		if len(args) > 0 {
			return cli.Usagef("patch takes --clean and --corrupt, not arguments")
		}
		return runPatch(ctx, io, opts)
	}
	return c
}

// patchOptions are mechlens patch's flags.
type patchOptions struct {
	model                 modelFlags
	clean, corrupt        string
	cleanIDs, corruptIDs  string
	target, baseline, pos string
	sites                 []string
	bos, color            bool
	format                cli.Format
}

// runPatch patches every site of the clean run into the corrupted one and prints the
// recovered fractions.
func runPatch(ctx context.Context, io *cli.IO, o patchOptions) error {
	if (o.clean == "") == (o.cleanIDs == "") || (o.corrupt == "") == (o.corruptIDs == "") {
		return cli.Usagef("give --clean or --clean-ids, and --corrupt or --corrupt-ids")
	}
	if o.target == "" {
		return cli.Usagef("--target is required")
	}
	po := lens.PatchOptions{Baseline: -1}
	po.Resid, po.Heads, po.MLP = slices.Contains(o.sites, "resid"), slices.Contains(o.sites, "heads"), slices.Contains(o.sites, "mlp")
	var err error
	if po.Positions, err = lensPositions(o.pos); err != nil {
		return err
	}
	m, err := o.model.open(ctx, io)
	if err != nil {
		return err
	}
	cleanSeq, err := promptIDs(m, o.clean, o.cleanIDs, "--clean-ids", o.bos)
	if err != nil {
		return fmt.Errorf("clean prompt: %w", err)
	}
	corruptSeq, err := promptIDs(m, o.corrupt, o.corruptIDs, "--corrupt-ids", o.bos)
	if err != nil {
		return fmt.Errorf("corrupted prompt: %w", err)
	}
	if po.Target, err = lensTokenID(m, "--target", o.target); err != nil {
		return err
	}
	if o.baseline != "" {
		if po.Baseline, err = lensTokenID(m, "--baseline", o.baseline); err != nil {
			return err
		}
	}
	a := newAnalyzer(ctx, m)
	pt, err := a.Patch(cleanSeq, corruptSeq, po)
	if err != nil {
		return err
	}
	out := patchOutput{Model: o.model.name(), Processing: orEmpty(m.Processing), Edits: orEmpty(m.Edits), CleanTokens: a.Tokens(cleanSeq), CorruptTokens: a.Tokens(corruptSeq), Patching: *pt}
	rows := &cli.Rows{Header: []string{"site", "layer", "pos", "clean token", "corrupt token", "head", "patched", "recovered"}}
	for _, s := range pt.Sites {
		var clean, corrupt any = "", ""
		if s.Pos >= 0 {
			clean = cli.Token(out.CleanTokens[s.Pos].Text)
			if cleanSeq[s.Pos] != corruptSeq[s.Pos] {
				corrupt = cli.Token(out.CorruptTokens[s.Pos].Text)
			}
		}
		rows.Add(s.Site, s.Layer, view.Blank(s.Pos), clean, corrupt, view.Blank(s.Head), s.Patched, s.Recovered)
		rows.Heat = append(rows.Heat, append(view.NoHeat(7), s.Recovered))
	}
	if err := cli.Write(io, o.format, rows, out, o.color); err != nil {
		return err
	}
	if o.format == cli.Table {
		_, err = fmt.Fprintf(io.Out, "metric at the last position: clean %.6g, corrupted %.6g\n", pt.Clean, pt.Corrupt)
	}
	return err
}
