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
	clean := cli.Text(c.Flags, "clean", "", "the clean prompt")
	corrupt := cli.Text(c.Flags, "corrupt", "", "the corrupted prompt (same number of tokens)")
	cleanIDs := cli.Text(c.Flags, "clean-ids", "", "comma-separated token ids instead of --clean")
	corruptIDs := cli.Text(c.Flags, "corrupt-ids", "", "comma-separated token ids instead of --corrupt")
	bos := addBOSFlag(c)
	target := cli.Text(c.Flags, "target", "", "the metric's token (exactly one token; required)")
	baseline := cli.Text(c.Flags, "baseline", "", "subtract this token's logit in the metric")
	sites := cli.List(c.Flags, "sites", "resid,heads,mlp", []string{"resid", "heads", "mlp"}, "comma-separated: resid, heads, mlp")
	pos := cli.Text(c.Flags, "pos", "all", "resid positions: all, last, or a comma-separated list")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, useColor, err := output(io)
		if err != nil {
			return err
		}
		if len(args) > 0 {
			return cli.Usagef("patch takes --clean and --corrupt, not arguments")
		}
		if (*clean == "") == (*cleanIDs == "") || (*corrupt == "") == (*corruptIDs == "") {
			return cli.Usagef("give --clean or --clean-ids, and --corrupt or --corrupt-ids")
		}
		if *target == "" {
			return cli.Usagef("--target is required")
		}
		o := lens.PatchOptions{Baseline: -1}
		o.Resid, o.Heads, o.MLP = slices.Contains(*sites, "resid"), slices.Contains(*sites, "heads"), slices.Contains(*sites, "mlp")
		if o.Positions, err = lensPositions(*pos); err != nil {
			return err
		}
		m, err := mf.open(ctx, io)
		if err != nil {
			return err
		}
		cleanSeq, err := promptIDs(m, *clean, *cleanIDs, bos.want(mf))
		if err != nil {
			return fmt.Errorf("clean prompt: %w", err)
		}
		corruptSeq, err := promptIDs(m, *corrupt, *corruptIDs, bos.want(mf))
		if err != nil {
			return fmt.Errorf("corrupted prompt: %w", err)
		}
		if o.Target, err = lensTokenID(m, "--target", *target); err != nil {
			return err
		}
		if *baseline != "" {
			if o.Baseline, err = lensTokenID(m, "--baseline", *baseline); err != nil {
				return err
			}
		}
		a := newAnalyzer(ctx, m)
		pt, err := a.Patch(cleanSeq, corruptSeq, o)
		if err != nil {
			return err
		}
		out := patchOutput{Model: mf.name(), Processing: orEmpty(m.Processing), Edits: orEmpty(m.Edits), CleanTokens: a.Tokens(cleanSeq), CorruptTokens: a.Tokens(corruptSeq), Patching: *pt}
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
		if err := cli.Write(io, f, rows, out, useColor); err != nil {
			return err
		}
		if f == cli.Table {
			_, err = fmt.Fprintf(io.Out, "metric at the last position: clean %.6g, corrupted %.6g\n", pt.Clean, pt.Corrupt)
		}
		return err
	}
	return c
}
