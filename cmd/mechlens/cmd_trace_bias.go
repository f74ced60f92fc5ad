package main

import (
	"context"
	"fmt"
	"math"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/debias"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/modelspec"
	"github.com/mechlens/mechlens/toy"
)

func init() { register(newTraceBiasCommand()) }

// dataOptions are the audit's data and prompt flags, shared by trace-bias and neutralize.
type dataOptions struct {
	gen, letters, anchor string
	labels               []string
	n                    int
	bos, skipBad         bool
}

// addDataFlags adds the data flags; the function returned reads their values.
func addDataFlags(c *cli.Command) func() dataOptions {
	var d dataOptions
	gen := cli.Text(c.Flags, "generate", "", "generate the items: "+generatorList())
	n := cli.Int(c.Flags, "n", 0, 0, cli.NoLimit, "items to generate (default 200); with DATA, only the first N (default: all)")
	letters := cli.Text(c.Flags, "letters", audit.DefaultStyle, "how labels are written: A:, (A), A. or any text with one A")
	labels := cli.List(c.Flags, "labels", "", nil, "comma-separated option labels (default A,B,C,...)")
	c.Flags.BoolVar(&d.bos, "bos", true, "prepend <|endoftext|> as the paper does (--bos=false to leave it out)")
	c.Flags.BoolVar(&d.skipBad, "skip-bad", false, "skip bad rows of DATA instead of failing")
	anchor := cli.Text(c.Flags, "anchor", " A", "the letter the model falls back on (one token, with its space)")
	return func() dataOptions {
		d.gen, d.n, d.letters, d.labels, d.anchor = *gen, *n, *letters, *labels, *anchor
		return d
	}
}

// items reads DATA (or generates the items, by default the embedded model's own task on the
// embedded model and IOI on others) and returns them with the prompt format and a
// description of the data.
func (d dataOptions) items(io *cli.IO, args []string, mf *modelFlags) ([]audit.Item, audit.Format, string, error) {
	if len(args) == 1 && d.gen != "" {
		return nil, audit.Format{}, "", cli.Usagef("give a data file or --generate, not both")
	}
	o := audit.RunOptions{}
	o.Format = audit.Format{Style: d.letters, BOS: d.bos, Labels: d.labels}
	g := d.gen
	if g == "" && len(args) == 0 {
		g = audit.DefaultGenerator
		if modelspec.IsDefault(mf.spec) {
			g = toy.AuditTask
		}
	}
	items, err := auditItems(io, args, g, d.n, d.skipBad, mf.seed, &o)
	return items, o.Format, o.Data, err
}

// prompts formats the items for m and reads the anchor token.
func (d dataOptions) prompts(m *gpt2.Model, items []audit.Item, f audit.Format) ([]debias.Prompt, int, error) {
	anchor, err := lensTokenID(m, "--anchor", d.anchor)
	if err != nil {
		return nil, 0, err
	}
	ps, err := debias.Prepare(m, items, f)
	return ps, anchor, err
}

// traceBiasOutput is the JSON of mechlens trace-bias.
type traceBiasOutput struct {
	Model      string   `json:"model"`
	Processing []string `json:"processing"`
	Data       string   `json:"data"`
	*debias.TraceResult
}

func newTraceBiasCommand() *cli.Command {
	c := cli.NewCommand("trace-bias", "trace-bias [DATA] [--anchor \" A\"] [--plot FILE.png] [flags]",
		"Where the anchored answer comes from, aggregated over a data set")
	c.Long = `Over every item (DATA as the audit reads it; default: the embedded model's own task on the
embedded model, IOI otherwise), at the last position:
  - direct attribution of logit(anchor) − mean logit(other options) to every head, MLP and
    neuron: mean and 95% interval over the items, over those answered correctly and wrongly
    (letters rule);
  - patching: each head's and MLP's output set, on the items answered with the anchor when it
    is wrong (fallback), to its mean over the items answered right with another letter
    (known); the change of the difference is the component's total effect, and path
    patching splits it: the change when only the final residual stream receives the patched
    output (path: direct), and when only the later heads and MLPs do (path: later layers);
  - the anchored-bias paper's neuron scan (top neurons by |post|·‖W_out‖, flagged when their
    lens gap anchor − correct exceeds --gap) on every item whose answer is not the anchor:
    how often each neuron is flagged and its mean gap (and, for neurons never flagged, the
    summed gap where they are among the top).`
	c.Example = `  $ mechlens trace-bias --plot trace.png
  $ mechlens trace-bias --model gpt2 --n 20 --json     # the paper's IOI items`
	mf := addModelFlags(c, analysisProcessing)
	data := addDataFlags(c)
	top := cli.Int(c.Flags, "top-neurons", 10, 1, cli.NoLimit, "neurons per layer the scan looks at")
	gap := cli.Float(c.Flags, "gap", 4, math.Inf(-1), math.Inf(1), "the scan flags a neuron whose lens gap anchor − correct exceeds this")
	neurons := cli.Int(c.Flags, "neurons", 15, 0, cli.NoLimit, "neurons listed by |mean direct effect| (and by summed scan gap)")
	plotPath := cli.Text(c.Flags, "plot", "", "write the components' effects to this PNG")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		return runTraceBias(ctx, io, traceBiasOptions{model: *mf, data: data(), args: args,
			trace: debias.TraceOptions{TopNeurons: *top, Gap: *gap, Neurons: *neurons}, plot: *plotPath, format: f})
	}
	return c
}

// traceBiasOptions are trace-bias's flag values and arguments.
type traceBiasOptions struct {
	model  modelFlags
	data   dataOptions
	args   []string
	trace  debias.TraceOptions // the anchor is read from data.anchor
	plot   string
	format cli.Format
}

func runTraceBias(ctx context.Context, io *cli.IO, o traceBiasOptions) error {
	if len(o.args) > 1 {
		return cli.Usagef("want at most one data file, got %d arguments", len(o.args))
	}
	if o.plot != "" {
		if err := checkOut("--plot", o.plot, false); err != nil {
			return err
		}
	}
	items, pf, data, err := o.data.items(io, o.args, &o.model)
	if err != nil {
		return err
	}
	m, err := o.model.open(ctx, io)
	if err != nil {
		return err
	}
	ps, anchor, err := o.data.prompts(m, items, pf)
	if err != nil {
		return err
	}
	o.trace.Anchor, o.trace.Format = anchor, &pf
	tr, err := debias.Trace(ctx, m, ps, o.trace)
	if err != nil {
		return err
	}
	if o.plot != "" {
		if err := debias.WriteTracePlot(o.plot, tr); err != nil {
			return err
		}
	}
	out := traceBiasOutput{Model: o.model.name(), Processing: orEmpty(m.Processing), Data: data, TraceResult: tr}
	rows := &cli.Rows{Header: debias.TraceHeader()}
	for _, r := range debias.TraceRows(tr) {
		rows.Add(toAny(r)...)
	}
	if o.format == cli.Table {
		fmt.Fprintf(io.Out, "%s on %s: %d items, %d whose answer is not %q; %d answered right; patching %d fallback items from %d known\n",
			out.Model, data, tr.Items, tr.NonAnchor, tr.Anchor.Text, tr.Correct, tr.Fallback, tr.Known)
		fmt.Fprintf(io.Out, "logit(%s) − mean logit(other options): %.3f [%.3f, %.3f]\n", tr.Anchor.Text, tr.Diff.Mean, tr.Diff.Lo, tr.Diff.Hi)
		if r := tr.Rotation; r != nil && r.Items > 0 {
			fmt.Fprintf(io.Out, "options rotated by one on the %d fallback items: %.3f still answered at the anchor's position, %.3f follow the option\n", r.Items, r.StillAnchor, r.FollowsOption)
		}
		fmt.Fprintln(io.Out)
	}
	if err := cli.Write(io, o.format, rows, out, false); err != nil {
		return err
	}
	if o.format != cli.Table {
		return nil
	}
	fmt.Fprintln(io.Out)
	h, sr := debias.ScanRows(tr, o.trace.Neurons)
	scan := &cli.Rows{Header: h}
	for _, r := range sr {
		scan.Add(toAny(r)...)
	}
	return scan.WriteTable(io.Out, false)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
