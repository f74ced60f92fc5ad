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
	o := &causalTraceOptions{}
	c.Flags.StringVar(&o.subject, "subject", "", "the subject, a substring of the prompt (required)")
	c.Flags.StringVar(&o.target, "target", "", "the token whose probability is traced (default: the clean top token)")
	cli.IntVar(c.Flags, &o.samples, "samples", 10, 1, cli.NoLimit, "corrupted runs (one batch)")
	c.Flags.StringVar(&o.noise, "noise", "3s", "noise standard deviation: Ns (N × the std of W_E) or a number")
	cli.ChoiceVar(c.Flags, &o.kind, "kind", "all", []string{"all", lens.TraceHidden, lens.TraceMLP, lens.TraceAttn}, "states restored")
	cli.IntVar(c.Flags, &o.window, "window", 10, 1, cli.NoLimit, "layers restored together for mlp and attn")
	c.Flags.Uint64Var(&o.noiseSeed, "noise-seed", 1, "seed of the noise")
	c.Flags.StringVar(&o.png, "png", "", "also draw the heat map (positions × layers, one panel per kind) to this PNG")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, opts.color, err = output(io); err != nil {
			return err
		}
		if *pf.ids != "" {
			return cli.Usagef("causal-trace locates --subject in the prompt's text: give a prompt, not --ids")
		}
		if opts.subject == "" {
			return cli.Usagef("--subject is required")
		}
		if opts.prompt, err = oneArg(io, args, "prompt"); err != nil {
			return err
		}
		opts.bos = pf.bos.want(mf)
		return runCausalTrace(ctx, io, opts)
	}
	return c
}

// causalTraceOptions are mechlens causal-trace's flags and prompt.
type causalTraceOptions struct {
	model                   modelFlags
	prompt, subject, target string
	noise, kind, png        string
	samples, window         int
	noiseSeed               uint64
	bos, color              bool
	format                  cli.Format
}

// runCausalTrace traces the prompt and prints (and draws with o.png) the restored
// probabilities.
func runCausalTrace(ctx context.Context, io *cli.IO, o causalTraceOptions) error {
	ct := lens.CausalTraceOptions{Target: -1, Samples: o.samples, Window: o.window, Seed: o.noiseSeed}
	if o.kind != "all" {
		ct.Kinds = []string{o.kind}
	}
	scale, isMultiple := strings.CutSuffix(o.noise, "s")
	x, err := strconv.ParseFloat(scale, 64)
	if err != nil || !(x > 0) || math.IsInf(x, 0) { // !(x > 0) refuses NaN too
		return cli.Usagef("--noise %q: want a positive number, or Ns for N × the std of the token embeddings", o.noise)
	}
	if o.png != "" {
		if err := checkOut("--png", o.png, false); err != nil {
			return err
		}
	}
	m, err := o.model.open(ctx, io)
	if err != nil {
		return err
	}
	skip := 0
	if o.bos {
		skip = 1
	}
	// The subject first: without a tokenizer, its error is the one that applies (promptIDs's
	// would suggest --ids, which causal-trace refuses).
	if ct.SubjectStart, ct.SubjectEnd, err = lens.SubjectRange(m.Tokenizer, o.prompt, o.subject, skip); err != nil {
		return err
	}
	ids, err := promptIDs(m, o.prompt, "", "", o.bos)
	if err != nil {
		return err
	}
	if o.target != "" {
		if ct.Target, err = lensTokenID(m, "--target", o.target); err != nil {
			return err
		}
	}
	ct.Noise = x
	if isMultiple {
		ct.Noise = x * lens.NoiseStd(m)
	}
	a := lens.New(m)
	tr, err := a.CausalTrace(ids, ct)
	if err != nil {
		return err
	}
	out := causalTraceOutput{Model: o.model.name(), Processing: orEmpty(m.Processing), Tokens: a.Tokens(ids), CausalTrace: *tr}
	if o.png != "" {
		if err := tr.WritePNG(o.png, out.Tokens); err != nil {
			return err
		}
	}
	header := []string{"kind", "pos", "token"}
	for l := range m.Config.NLayers {
		header = append(header, "L"+strconv.Itoa(l))
	}
	rows := &cli.Rows{Header: header}
	for _, pn := range tr.Panels {
		for t, sc := range pn.Scores {
			tok := quote(out.Tokens[t].Text)
			if t >= tr.SubjectStart && t < tr.SubjectEnd {
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
	if err := cli.Write(io, o.format, rows, out, o.color); err != nil {
		return err
	}
	if o.format == cli.Table {
		_, err = fmt.Fprintf(io.Out, "P(%s): clean %.4g, corrupted %.4g (noise %.4g, %d samples; * = subject)\n",
			quote(tr.Target.Text), tr.Clean, tr.Corrupt, tr.Noise, tr.Samples)
	}
	return err
}
