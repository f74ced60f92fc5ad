package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

func init() { register(newAttributeCommand()) }

// attributeOutput is the JSON of mechlens attribute.
type attributeOutput struct {
	analysisHeader
	Attribution *lens.Attribution       `json:"attribution"`
	Neurons     *lens.NeuronAttribution `json:"neurons"` // null without --neurons
}

func newAttributeCommand() *cli.Command {
	c := cli.NewCommand("attribute", `attribute PROMPT --target TOKEN [--baseline TOKEN] [--neurons LAYERS]`,
		"Direct logit attribution: which heads, MLPs and neurons write the answer")
	c.Long = `Decomposes the logit of --target (minus that of --baseline) at a position into the direct
contributions of the token and position embeddings, every head of every layer (hook_result),
every attention output bias b_O, every MLP (hook_mlp_out), the ln_final bias and b_U. Each part
is projected through ln_final frozen at the final residual's scale: c·part/scale, with c =
ln_final.w∘(W_U[:,target] − W_U[:,baseline]) centered over d_model. The parts sum to the
model's own logit (difference), which the table's last lines compare.

--neurons LAYERS (e.g. 9, 8,9 or all) splits those MLPs into neurons: neuron i contributes
post[i]·(c·W_out[i])/scale, exactly; the --top strongest promoters and suppressors are listed
and each layer's neurons plus its b_out part add up to its MLP part.`
	c.Example = `  $ mechlens attribute --bos "Question: ... Answer Choices: A: Lindsey B: Kristen Answer:" --target " A" --baseline " B"
  $ mechlens attribute --model gpt2 "The Eiffel Tower is in" --target " Paris" --neurons all --top 5 --json`
	mf := addModelFlags(c, analysisProcessing)
	pf := addPromptFlags(c)
	o := &attributeOptions{}
	cli.TextVar(c.Flags, &o.target, "target", "", "the token whose logit is attributed (exactly one token; required)")
	cli.TextVar(c.Flags, &o.baseline, "baseline", "", "subtract this token's logit (exactly one token)")
	cli.IntVar(c.Flags, &o.pos, "pos", -1, -cli.NoLimit, cli.NoLimit, "position (negative counts from the end)")
	cli.TextVar(c.Flags, &o.neurons, "neurons", "", "split the MLPs of these layers into neurons: a comma-separated list or all")
	cli.IntVar(c.Flags, &o.top, "top", 0, 1, cli.NoLimit, "parts: keep the N largest |value| (default: all, in model order); neurons: promoters and suppressors listed (default 10)")
	c.Flags.BoolVar(&o.sort, "sort", false, "order parts by decreasing |value|")
	output := addLensOutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, opts.color, err = output(io); err != nil {
			return err
		}
		if opts.target == "" {
			return cli.Usagef("--target is required")
		}
		if opts.prompt, err = pf.input(io, mf, args); err != nil {
			return err
		}
		return runAttribute(ctx, io, opts)
	}
	return c
}

// attributeOptions are mechlens attribute's flags and prompt.
type attributeOptions struct {
	model                     modelFlags
	prompt                    promptInput
	target, baseline, neurons string
	pos, top                  int
	sort, color               bool
	format                    cli.Format
}

// runAttribute attributes the target's logit (difference) and prints the parts or neurons.
func runAttribute(ctx context.Context, io *cli.IO, o attributeOptions) error {
	m, ids, err := o.prompt.open(ctx, io, &o.model)
	if err != nil {
		return err
	}
	t, err := lensTokenID(m, "--target", o.target)
	if err != nil {
		return err
	}
	b := -1
	if o.baseline != "" {
		if b, err = lensTokenID(m, "--baseline", o.baseline); err != nil {
			return err
		}
	}
	var layers []int
	if o.neurons != "" {
		if layers, err = attributeLayers(o.neurons, m.Config.NLayers); err != nil {
			return err
		}
	}
	a := newAnalyzer(ctx, m)
	tr, err := a.Trace(ids, lens.TraceOptions{AllLogits: o.pos != -1, Heads: true})
	if err != nil {
		return err
	}
	at, err := a.Attribute(tr, o.pos, t, b)
	if err != nil {
		return err
	}
	out := attributeOutput{analysisHeader: header(&o.model, m, a.Tokens(ids)), Attribution: at}
	var rows *cli.Rows
	if layers != nil {
		k := o.top
		if k == 0 {
			k = 10
		}
		if out.Neurons, err = a.AttributeNeurons(tr, layers, o.pos, t, b, k); err != nil {
			return err
		}
		rows = view.NeuronRows(out.Neurons)
	} else {
		rows = view.PartRows(at, o.sort, o.top)
	}
	if err := cli.Write(io, o.format, rows, out, o.color); err != nil {
		return err
	}
	if o.format == cli.Table {
		return attributeSummary(io, at, out.Neurons)
	}
	return nil
}

// attributeLayers parses --neurons: "all" or a comma-separated list of layers.
func attributeLayers(s string, n int) ([]int, error) {
	var out []int
	if s == "all" {
		for l := range n {
			out = append(out, l)
		}
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		l, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || l < 0 || l >= n {
			return nil, cli.Usagef("--neurons: %q is not all or a layer in 0..%d", f, n-1)
		}
		out = append(out, l)
	}
	return out, nil
}

// attributeSummary prints, under the table, what the parts add up to.
func attributeSummary(io *cli.IO, at *lens.Attribution, na *lens.NeuronAttribution) error {
	what := "logit " + quote(at.Target.Text)
	if at.Baseline != nil {
		what = fmt.Sprintf("logit %s − logit %s", quote(at.Target.Text), quote(at.Baseline.Text))
	}
	if na != nil {
		for _, l := range na.Layers {
			if _, err := fmt.Fprintf(io.Out, "layer %d: mlp %.4g = neurons %.4g + b_out %.4g\n", l.Layer, l.MLP, l.Neurons, l.Bias); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintf(io.Out, "%s at position %d: model %.6g, sum of parts %.6g (ln_final scale %.4g)\n", what, at.Pos, at.Logit, at.Sum, at.Scale)
	return err
}
