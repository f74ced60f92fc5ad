package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

func init() { register(newCausalTraceCommand()) }

// causalTraceOutput is the JSON of mechlens causal-trace.
type causalTraceOutput struct {
	Model      string       `json:"model"`
	Processing []string     `json:"processing"`
	Tokens     []lens.Token `json:"tokens"`
	lens.CausalTrace
}

func newCausalTraceCommand() *cli.Command {
	c := cli.NewCommand("causal-trace", `causal-trace PROMPT --subject TEXT [--target TOKEN] [--samples 10] [--noise 3s|NUMBER] [--kind all|hidden|mlp|attn] [--window 10] [--png FILE]`,
		"Causal tracing (ROME): which states carry a fact from the subject to the answer")
	c.Long = `Corrupts the subject's token embeddings (hook_embed, before the position embeddings) with
seeded Gaussian noise in --samples runs, then restores one state of the clean run at one
position in all of them and reports the mean probability of the clean top token (or --target)
at the last position: hidden restores a block's output (hook_resid_post) at one layer, mlp and
attn restore hook_mlp_out or hook_attn_out over --window layers centred on the layer (clipped at
the ends). The subject is located in the prompt by the tokenizer's byte offsets (first
occurrence). --noise 3s (default) is 3 × the standard deviation of W_E's entries (ROME's s3);
a plain number is the standard deviation itself. "clean" and "corrupted" below the table are
the probabilities without noise and with noise and nothing restored.`
	c.Example = `  $ mechlens causal-trace "The capital of Fizeia is" --subject Fizeia --png trace.png
  $ mechlens causal-trace "The Space Needle is in downtown" --subject "The Space Needle" --model gpt2 --kind mlp --json`
	mf := addModelFlags(c, "")
	pf := addPromptFlags(c)
	subject := c.Flags.String("subject", "", "the subject, a substring of the prompt (required)")
	target := c.Flags.String("target", "", "the token whose probability is traced (default: the clean top token)")
	samples := cli.Int(c.Flags, "samples", 10, 1, cli.NoLimit, "corrupted runs (one batch)")
	noise := c.Flags.String("noise", "3s", "noise standard deviation: Ns (N × the std of W_E) or a number")
	kind := cli.Choice(c.Flags, "kind", "all", []string{"all", lens.TraceHidden, lens.TraceMLP, lens.TraceAttn}, "states restored")
	window := cli.Int(c.Flags, "window", 10, 1, cli.NoLimit, "layers restored together for mlp and attn")
	noiseSeed := c.Flags.Uint64("noise-seed", 1, "seed of the noise")
	pngPath := c.Flags.String("png", "", "also draw the heat map (positions × layers, one panel per kind) to this PNG")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, useColor, err := output(io)
		if err != nil {
			return err
		}
		if *pf.ids != "" {
			return cli.Usagef("causal-trace locates --subject in the prompt's text: give a prompt, not --ids")
		}
		if *subject == "" {
			return cli.Usagef("--subject is required")
		}
		o := lens.CausalTraceOptions{Target: -1, Samples: *samples, Window: *window, Seed: *noiseSeed}
		if *kind != "all" {
			o.Kinds = []string{*kind}
		}
		scale, isMultiple := strings.CutSuffix(*noise, "s")
		x, err := strconv.ParseFloat(scale, 64)
		if err != nil || x <= 0 || math.IsInf(x, 0) {
			return cli.Usagef("--noise %q: want a positive number, or Ns for N × the std of the token embeddings", *noise)
		}
		prompt, err := oneArg(io, args, "prompt")
		if err != nil {
			return err
		}
		m, err := mf.open(ctx, io)
		if err != nil {
			return err
		}
		bos := pf.bos.want(mf)
		ids, err := promptIDs(m, prompt, "", bos)
		if err != nil {
			return err
		}
		skip := 0
		if bos {
			skip = 1
		}
		if o.SubjectStart, o.SubjectEnd, err = lens.SubjectRange(m.Tokenizer, prompt, *subject, skip); err != nil {
			return err
		}
		if *target != "" {
			if o.Target, err = lensTokenID(m, "--target", *target); err != nil {
				return err
			}
		}
		o.Noise = x
		if isMultiple {
			o.Noise = x * lens.NoiseStd(m)
		}
		a := lens.New(m)
		ct, err := a.CausalTrace(ids, o)
		if err != nil {
			return err
		}
		out := causalTraceOutput{Model: mf.name(), Processing: orEmpty(m.Processing), Tokens: a.Tokens(ids), CausalTrace: *ct}
		if *pngPath != "" {
			if err := ct.WritePNG(*pngPath, out.Tokens); err != nil {
				return err
			}
		}
		header := []string{"kind", "pos", "token"}
		for l := range m.Config.NLayers {
			header = append(header, "L"+strconv.Itoa(l))
		}
		rows := &cli.Rows{Header: header}
		for _, pn := range ct.Panels {
			for t, sc := range pn.Scores {
				tok := quote(out.Tokens[t].Text)
				if t >= ct.SubjectStart && t < ct.SubjectEnd {
					tok += "*"
				}
				cells := []any{pn.Kind, t, tok}
				heat := view.NoHeat(3)
				for _, v := range sc {
					cells = append(cells, v)
					heat = append(heat, v)
				}
				rows.Add(cells...)
				rows.Heat = append(rows.Heat, heat)
			}
		}
		if err := cli.Write(io, f, rows, out, useColor); err != nil {
			return err
		}
		if f == cli.Table {
			_, err = fmt.Fprintf(io.Out, "P(%s): clean %.4g, corrupted %.4g (noise %.4g, %d samples; * = subject)\n",
				quote(ct.Target.Text), ct.Clean, ct.Corrupt, ct.Noise, ct.Samples)
		}
		return err
	}
	return c
}
