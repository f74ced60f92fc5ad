package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	goio "io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/debias"
	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/fsutil"
	"github.com/mechlens/mechlens/internal/modelspec"
	"github.com/mechlens/mechlens/toy"
)

func init() { register(newNeutralizeCommand()) }

// organismFacts is how many items neutralize generates on the embedded model by default:
// every held-out fact question of its world (the fact items of `toy data`), so that each
// class has enough items in both splits.
const organismFacts = 1800

// minSplit is the fewest items a fit or eval split may have.
const minSplit = 10

// neutralText is the default neutral text of models other than the embedded one.
var neutralText = []string{
	"The Eiffel Tower is in Paris, the capital of France.",
	"When Mary and John went to the store, John gave a drink to Mary.",
	"The quick brown fox jumps over the lazy dog.",
	"Water boils at one hundred degrees Celsius at sea level.",
	"She opened the door and walked into the garden.",
}

func newNeutralizeCommand() *cli.Command {
	c := cli.NewCommand("neutralize", "neutralize [DATA] --out DIR [--fit FILE --eval FILE] [flags]",
		"Find edits that remove the anchored answer on one split and measure them on another")
	c.Long = `Splits the items (seeded, each group in the same proportion; or --fit and --eval files),
traces the fit split (as trace-bias does) and builds candidate edits from it: an anchor
calibration (a run-time steer of the final layer norm's output that lowers the anchor's logit
alone at the last position), the same and a calibration of every letter, gated by how much
the heads whose focus tells the fallback items from the known ones attend to one token, a clamp of the route head's output along the direction later layers read the anchor
from, scaling that head, projecting the anchor direction out of it, rescaling its attention
to the option letters, the paper's value-vector rule over an (α1, α2) sweep and a label-free
projection on the most flagged neurons, and a clamp plus a calibration. Without DATA: the
embedded model's own task on the embedded model, the paper's IOI items on others. Strengths
are searched on the fit split only; the objective brings the fallback groups' anchor rate to
chance (groups answered with the anchor ≥ 90% of the time, or --fallback) while the other
groups keep their accuracy (--tol) and their anchored rate stays at or below even spread.

Writes DIR/edits.json (the chosen set: --edits FILE elsewhere), DIR/fit.jsonl and
DIR/eval.jsonl (the splits, audit's generic schema), DIR/report.md, trace.png,
before_after.png, accuracy_by_position.png and candidates.png: the eval split before and
after with bootstrap intervals, fact recall (--facts; the organism's facts on the embedded
model), KL on neutral text (--neutral) and greedy samples, and every candidate's row.`
	c.Example = `  $ mechlens neutralize --n 300 --out fix
  $ mechlens audit fix/eval.jsonl --edits fix/edits.json`
	mf := addModelFlags(c, analysisProcessing)
	c.Flags.Lookup("seed").Usage = "seed of random: models, of --generate, of the split and of the bootstrap"
	data := addDataFlags(c)
	out := cli.Text(c.Flags, "out", "", "folder for edits.json, the splits, report.md and the plots (required)")
	fitFile := cli.Text(c.Flags, "fit", "", "items to fit on (with --eval, instead of splitting DATA)")
	evalFile := cli.Text(c.Flags, "eval", "", "items to measure on (with --fit)")
	split := cli.Float(c.Flags, "split", 0.5, 0, 1, "share of each group's items that go to the fit split (strictly between 0 and 1)")
	fallback := cli.List(c.Flags, "fallback", "", nil, "comma-separated groups to bring to chance (default: groups answered with the anchor ≥ 90% of the time)")
	tol := cli.Float(c.Flags, "tol", 0.01, 0, 1, "accuracy loss tolerated per kept group on the fit split")
	top := cli.Int(c.Flags, "top-neurons", 10, 1, cli.NoLimit, "neurons per layer the scan looks at")
	gap := cli.Float(c.Flags, "gap", 4, math.Inf(-1), math.Inf(1), "the scan flags a neuron whose lens gap anchor − correct exceeds this")
	facts := cli.Text(c.Flags, "facts", "", "JSONL of {prompt, completion, class} for fact recall (default on the embedded model: its facts)")
	neutral := cli.Text(c.Flags, "neutral", "", "text file, one neutral text a line, for the KL (default: built-in)")
	boot := cli.Int(c.Flags, "bootstrap", 1000, 0, maxBootstrap, "bootstrap resamples for the eval split's 95% intervals")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		f, err := format()
		if err != nil {
			return err
		}
		return runNeutralize(ctx, io, neutralizeOptions{model: *mf, data: data(), args: args, out: *out, fit: *fitFile, eval: *evalFile,
			split: *split, fallback: *fallback, tol: *tol, top: *top, gap: *gap, facts: *facts, neutral: *neutral, boot: *boot, format: f})
	}
	return c
}

// neutralizeOptions are neutralize's flag values and arguments.
type neutralizeOptions struct {
	model          modelFlags
	data           dataOptions
	args           []string
	out, fit, eval string
	split, tol     float64
	fallback       []string
	top            int     // the scan's neurons per layer
	gap            float64 // and its threshold
	facts, neutral string
	boot           int
	format         cli.Format
}

func runNeutralize(ctx context.Context, io *cli.IO, o neutralizeOptions) error {
	mf := &o.model
	switch {
	case o.out == "":
		return cli.Usagef("--out DIR is required")
	case (o.fit == "") != (o.eval == ""):
		return cli.Usagef("--fit and --eval go together")
	case o.fit != "" && (len(o.args) > 0 || o.data.gen != ""):
		return cli.Usagef("give DATA (or --generate) or --fit and --eval, not both")
	case len(o.args) > 1:
		return cli.Usagef("want at most one data file, got %d arguments", len(o.args))
	case o.split <= 0 || o.split >= 1:
		return cli.Usagef("--split must be between 0 and 1, got %g", o.split)
	}
	if err := checkOut("--out", o.out, true); err != nil {
		return err
	}
	if err := checkOwnFolder("--out", o.out, []string{"fit.jsonl"}, "edits.json", "eval.jsonl", debias.FileReport, debias.FileTrace,
		debias.FileGroups, debias.FileAccuracy, debias.FileCandidates); err != nil {
		return err
	}
	var fitItems, evalItems []audit.Item
	var pf audit.Format
	var data string
	var err error
	if o.fit != "" {
		if fitItems, pf, _, err = o.data.items(io, []string{o.fit}, mf); err != nil {
			return err
		}
		if evalItems, _, _, err = o.data.items(io, []string{o.eval}, mf); err != nil {
			return err
		}
		data = fmt.Sprintf("fit %s, eval %s", o.fit, o.eval)
	} else {
		if len(o.args) == 0 && o.data.n == 0 && modelspec.IsDefault(mf.spec) && (o.data.gen == "" || o.data.gen == toy.AuditTask) {
			o.data.n = organismFacts
		}
		var items []audit.Item
		if items, pf, data, err = o.data.items(io, o.args, mf); err != nil {
			return err
		}
		fitItems, evalItems = debias.Split(items, o.split, mf.seed)
		data += fmt.Sprintf(", split %g seed %d", o.split, mf.seed)
	}
	if len(fitItems) < minSplit || len(evalItems) < minSplit {
		return fmt.Errorf("the fit split has %d items and the eval split %d: each needs at least %d", len(fitItems), len(evalItems), minSplit)
	}
	if err := debias.CheckFallback(fitItems, o.fallback); err != nil {
		return cli.Usagef("--fallback: %s", strings.TrimPrefix(err.Error(), "debias: "))
	}
	m, err := mf.open(ctx, io)
	if err != nil {
		return err
	}
	fit, anchor, err := o.data.prompts(m, fitItems, pf)
	if err != nil {
		return err
	}
	eval, _, err := o.data.prompts(m, evalItems, pf)
	if err != nil {
		return err
	}
	// Read before the search, which takes minutes: a bad --facts or --neutral then costs
	// nothing and leaves nothing in --out.
	fs, texts, samples, err := sideInputs(m, mf, o.facts, o.neutral, eval)
	if err != nil {
		return err
	}
	var groups []string
	if len(o.fallback) > 0 {
		groups = o.fallback
	}
	progress := func(string) {}
	if io.ErrTTY {
		progress = func(s string) { fmt.Fprintf(io.Err, "neutralize: %s\n", s) }
	}
	progress("trace")
	tr, err := debias.Trace(ctx, m, fit, debias.TraceOptions{Anchor: anchor, TopNeurons: o.top, Gap: o.gap, Neurons: 15, Format: &pf})
	if err != nil {
		return err
	}
	sr, err := debias.Neutralize(ctx, m, fit, eval, debias.NeutralizeOptions{Anchor: anchor, ModelName: mf.name(),
		Fallback: groups, Tol: o.tol, Trace: tr, Progress: progress})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if err := sr.Set.Save(filepath.Join(o.out, "edits.json")); err != nil {
		return err
	}
	for name, items := range map[string][]audit.Item{"fit.jsonl": fitItems, "eval.jsonl": evalItems} {
		if err := writeItems(filepath.Join(o.out, name), items); err != nil {
			return err
		}
	}
	progress("before and after")
	rep := &debias.Report{Model: mf.name(), Processing: orEmpty(m.Processing), Data: data, FitItems: len(fit), EvalItems: len(eval),
		Trace: tr, Search: sr}
	for _, e := range sr.Set.Edits {
		rep.Edits = append(rep.Edits, e.String())
	}
	apply := func() (func() error, error) {
		ap, err := sr.Set.Apply(m)
		if err != nil {
			return nil, err
		}
		return ap.Revert, nil
	}
	beforeAfter := func(score func() ([]audit.Record, error)) (before, after []audit.Record, err error) {
		if before, err = score(); err != nil {
			return nil, nil, err
		}
		undo, err := apply()
		if err != nil {
			return nil, nil, err
		}
		after, err = score()
		if uerr := undo(); err == nil {
			err = uerr
		}
		return before, after, err
	}
	before, after, err := beforeAfter(func() ([]audit.Record, error) { return debias.Score(ctx, m, eval, nil) })
	if err != nil {
		return err
	}
	rep.Before = debias.Measure(before, sr.Fallback, sr.Kept, o.boot, mf.seed, false)
	rep.After = debias.Measure(after, sr.Fallback, sr.Kept, o.boot, mf.seed, false)
	// The same items in every rotation of their options, scored as audit --permute cyclic
	// scores them, tell the anchor's pull from answers that follow an option's content.
	sc, err := audit.NewScorer(m, pf, audit.PermuteCyclic)
	if err != nil {
		return err
	}
	sc.Context = ctx
	before, after, err = beforeAfter(func() ([]audit.Record, error) { return sc.Score(evalItems, 0) })
	if err != nil {
		return err
	}
	rep.CyclicBefore = debias.Measure(before, sr.Fallback, sr.Kept, o.boot, mf.seed, true)
	rep.CyclicAfter = debias.Measure(after, sr.Fallback, sr.Kept, o.boot, mf.seed, true)
	progress("side effects")
	if rep.Side, err = debias.Sides(ctx, m, fs, texts, samples, pf.BOS, apply); err != nil {
		return err
	}
	if err := debias.WriteReport(o.out, rep); err != nil {
		return err
	}
	h, rows := rep.BeforeAfterTable()
	r := &cli.Rows{Header: h, Cells: rows}
	if o.format == cli.Table {
		best := sr.Candidates[sr.Best]
		fmt.Fprintf(io.Out, "%s on %s: chose %s (%s) among %d candidates; eval split before → after:\n", rep.Model, data, best.Name, best.Family, len(sr.Candidates))
	}
	if err := cli.Write(io, o.format, r, rep, false); err != nil {
		return err
	}
	if o.format == cli.Table {
		fmt.Fprintf(io.Out, "\nwrote %s (edits.json, fit.jsonl, eval.jsonl, report.md, plots)\n", o.out)
	}
	return nil
}

// writeItems writes items as JSON Lines in audit's generic schema.
func writeItems(path string, items []audit.Item) error {
	return fsutil.WriteFileAtomic(path, func(w goio.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := range items {
			if err := enc.Encode(&items[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// sideInputs are the fact prompts, neutral texts and sample prompts of the side effects:
// the files given, else the organism's own facts and statements on the embedded model, or
// built-in text on others.
func sideInputs(m *gpt2.Model, mf *modelFlags, factsFile, neutralFile string, eval []debias.Prompt) ([]debias.Fact, []string, []string, error) {
	var facts []debias.Fact
	var texts []string
	if factsFile != "" {
		b, err := os.ReadFile(factsFile)
		if err != nil {
			return nil, nil, nil, err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var f debias.Fact
			if err := json.Unmarshal([]byte(line), &f); err != nil || f.Prompt == "" || f.Completion == "" {
				return nil, nil, nil, fmt.Errorf("%s: line %d: want {\"prompt\", \"completion\", \"class\"}", factsFile, i+1)
			}
			if _, err := edit.TokenID(m, f.Completion); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: line %d: completion %v", factsFile, i+1, err)
			}
			facts = append(facts, f)
		}
	} else if modelspec.IsDefault(mf.spec) {
		for _, f := range toy.HeldOut(toy.NewWorld(), 1).Facts {
			facts = append(facts, debias.Fact{Prompt: f.Prompt, Completion: f.Completion, Class: f.Class})
		}
	}
	switch {
	case neutralFile != "":
		fh, err := os.Open(neutralFile)
		if err != nil {
			return nil, nil, nil, err
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				texts = append(texts, t)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, nil, nil, err
		}
		if len(texts) == 0 {
			return nil, nil, nil, fmt.Errorf("%s: no text", neutralFile)
		}
	case modelspec.IsDefault(mf.spec) && len(facts) > 0:
		for i := 0; i < len(facts) && len(texts) < 200; i += 9 {
			texts = append(texts, facts[i].Prompt+facts[i].Completion+".")
		}
	default:
		texts = neutralText
	}
	var samples []string
	for i := 0; i < len(facts) && len(samples) < 3; i += len(facts)/3 + 1 {
		samples = append(samples, facts[i].Prompt)
	}
	if len(samples) == 0 {
		samples = texts[:min(2, len(texts))]
	}
	if len(eval) > 0 {
		samples = append(samples, eval[0].Question)
	}
	return facts, texts, samples, nil
}
