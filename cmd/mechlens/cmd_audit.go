package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/modelspec"
	"github.com/mechlens/mechlens/toy"
)

func init() { register(newAuditCommand()) }

// maxBootstrap bounds --bootstrap (audit's and neutralize's): every resample's statistics are
// kept until the percentiles are taken, about 1 KB each, so 100 times the default already
// holds 100 MB; a billion ran out of memory.
const maxBootstrap = 100_000

func newAuditCommand() *cli.Command {
	c := cli.NewCommand("audit", "audit [DATA] [--generate NAME] [--out DIR] [--model A,B,...] [--permute cyclic|all] [flags]",
		"Measure positional (anchored) bias on multiple-choice questions, with confidence intervals")
	c.Long = `Scores every item (in every order with --permute) and reports accuracy, the selection rate
of each letter, the anchored-bias rate (items whose answer is not A answered A), the mean
logit difference A - correct, accuracy by position of the correct answer, RStd and
consistency, each with a 95% bootstrap interval, and a z-test of the A rate against chance.

DATA is a JSONL file or JSON array in one of these schemas, detected from the first row:
  {"question", "choices": [...], "answer": index or letter}          generic, MMLU
  {"question": {"stem", "choices": [{"label","text"}]}, "answerKey"}  ARC, CommonsenseQA
  {"sentence": "Question: ... Answer Choices: A: x B: y Answer:", "label": "B"}
Without DATA the items are generated (--generate; default: the embedded model's own task on
the embedded model, ` + audit.DefaultGenerator + ` on any other).

With --out DIR it writes items.jsonl, meta.json, summary.json, summary.csv, report.md and
selection.png, accuracy.png, lens.png (see the README). An interrupted run continues with
--resume. --shard K/N audits one slice (K from 0); 'mechlens audit merge' joins the slices.
With several models (--model a,b) each gets DIR/<model>/ and a comparison table is printed.`
	c.Example = `  $ mechlens audit
  $ mechlens audit --model gpt2 --generate ioi --n 200 --seed 1 --out results
  $ mechlens audit mmlu.jsonl --model gpt2,gpt2-medium --permute cyclic --out results
  $ mechlens audit arc.jsonl --model gpt2-xl --shard auto --out results   # in a SLURM array
  $ mechlens audit merge results`
	mf := addModelFlags(c, analysisProcessing)
	c.Flags.Lookup("seed").Usage = "seed of random: models, of --generate and of the bootstrap"
	o := &auditOptions{}
	cli.TextVar(c.Flags, &o.generate, "generate", "", "generate the items: "+generatorList())
	cli.IntVar(c.Flags, &o.n, "n", 0, 0, cli.NoLimit, "items to generate (default 200); with DATA, audit only the first N (default: all)")
	cli.TextVar(c.Flags, &o.out, "out", "", "folder for the output files (default: print the summary only)")
	cli.ChoiceVar(c.Flags, &o.permute, "permute", audit.PermuteNone, []string{audit.PermuteNone, audit.PermuteCyclic, audit.PermuteAll}, "orders of the options: none, cyclic (every rotation) or all (every permutation, up to 5 options)")
	cli.TextVar(c.Flags, &o.template, "template", "", "Go text/template file for the prompt (fields .Question, .Options[].Label/.Marker/.Text/.Index, .N)")
	cli.TextVar(c.Flags, &o.letters, "letters", audit.DefaultStyle, "how labels are written: A:, (A), A. or any text with one A")
	cli.ListVar(c.Flags, &o.labels, "labels", "", nil, "comma-separated option labels (default A,B,C,...)")
	c.Flags.BoolVar(&o.bos, "bos", true, "prepend <|endoftext|> as the paper does (--bos=false to leave it out)")
	c.Flags.BoolVar(&o.skipBad, "skip-bad", false, "skip bad rows of DATA (listed in the summary) instead of failing")
	c.Flags.BoolVar(&o.resume, "resume", false, "continue the interrupted run in --out")
	cli.TextVar(c.Flags, &o.shard, "shard", "", "audit slice K of N: K/N (K from 0), auto (SLURM_ARRAY_TASK_ID/COUNT) or auto/N (JOB_COMPLETION_INDEX)")
	cli.IntVar(c.Flags, &o.bootstrap, "bootstrap", 1000, 0, maxBootstrap, "bootstrap resamples for the 95% intervals (0: none)")
	c.Flags.BoolVar(&o.noPlots, "no-plots", false, "do not write the PNG plots")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model = *mf
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		switch {
		case len(args) > 1:
			return cli.Usagef("want at most one data file, got %d arguments", len(args))
		case len(args) == 1 && args[0] == "":
			return cli.Usagef("the data file's name is empty")
		case len(args) == 1:
			opts.data = args[0]
		}
		return runAudit(ctx, io, opts)
	}
	c.Sub = []*cli.Command{newAuditMergeCommand()}
	return c
}

// auditOptions are mechlens audit's flags and DATA argument.
type auditOptions struct {
	model                         modelFlags
	data                          string // DATA: a file, "-" for standard input, "" to generate
	generate, out, permute, shard string
	template, letters             string
	labels                        []string
	n, bootstrap                  int
	bos, skipBad, resume, noPlots bool
	format                        cli.Format
}

// runAudit audits every model of o.model.spec (comma-separated) and prints the summary.
func runAudit(ctx context.Context, io *cli.IO, o auditOptions) error {
	if o.data != "" && o.generate != "" {
		return cli.Usagef("give a data file or --generate, not both")
	}
	if o.resume && o.out == "" {
		return cli.Usagef("--resume needs --out")
	}
	if o.out != "" {
		if err := checkOut("--out", o.out, true); err != nil {
			return err
		}
		if err := checkOwnFolder("--out", o.out, []string{"meta*.json"}, "report.md", "summary.json", "summary.csv", "items.jsonl",
			"selection.png", "accuracy.png", "lens.png"); err != nil {
			return err
		}
	}
	ro := audit.RunOptions{Out: o.out, Resume: o.resume, NoPlots: o.noPlots}
	ro.Permute, ro.Bootstrap, ro.Seed = o.permute, o.bootstrap, o.model.seed
	ro.Format = audit.Format{Style: o.letters, BOS: o.bos, Labels: o.labels}
	if err := ro.Format.Check(); err != nil {
		return cli.Usagef("%s", strings.TrimPrefix(err.Error(), "audit: "))
	}
	if o.shard != "" {
		var err error
		if ro.Shard, ro.Shards, err = audit.ParseShard(o.shard, os.Getenv); err != nil {
			return cli.Usagef("%v", err)
		}
		if o.out == "" {
			return cli.Usagef("--shard needs --out (the slices are merged from there)")
		}
	}
	g := o.generate
	if g == "" && o.data == "" {
		g = audit.DefaultGenerator
		if modelspec.IsDefault(o.model.spec) {
			g = toy.AuditTask
		}
	}
	var args []string // DATA as auditItems takes it, from the command line
	if o.data != "" {
		args = []string{o.data}
	}
	items, err := auditItems(io, args, g, o.n, o.skipBad, o.model.seed, &ro)
	if err != nil {
		return err
	}
	if o.template != "" {
		if ro.Format.Template, err = audit.ReadTemplate(o.template); err != nil {
			return err
		}
	}
	specs := strings.Split(o.model.spec, ",")
	if len(specs) > 1 && slices.ContainsFunc(specs, func(s string) bool { return strings.TrimSpace(s) == "" }) {
		// An empty item would be the embedded model, audited without being named.
		return cli.Usagef("--model: %q has an empty item", o.model.spec)
	}
	for _, spec := range specs { // a mistyped last model must not wait for the first's audit
		if err := modelspec.Check(strings.TrimSpace(spec)); err != nil {
			return err
		}
	}
	var sums []*audit.Summary
	for i, spec := range specs {
		g := o.model
		g.spec = strings.TrimSpace(spec)
		m, err := g.open(ctx, io)
		if err != nil {
			return err
		}
		mo := ro
		mo.Model = g.name()
		if len(specs) > 1 && o.out != "" {
			mo.Out = filepath.Join(o.out, modelSlug(g.spec, i, specs))
		}
		mo.Progress = progressBar(io, mo.Model)
		s, err := audit.Run(ctx, m, items, mo)
		if err != nil {
			if len(specs) > 1 {
				return fmt.Errorf("%s: %w", mo.Model, err)
			}
			return err
		}
		sums = append(sums, s)
	}
	if len(sums) > 1 && o.out != "" && ro.Shards == 0 {
		if err := audit.WriteCompare(o.out, sums); err != nil {
			return err
		}
	}
	return printAudit(io, o.format, sums)
}

func generatorList() string {
	var s []string
	for _, g := range audit.Generators() {
		s = append(s, g.Name()+" ("+g.Describe()+")")
	}
	return strings.Join(s, "; ")
}

// defaultGenerate is how many items --generate makes unless --n says; maxGenerate is the
// most it makes: the items are made and held before the first is scored, and a million
// already take hours to score (a billion ran out of memory before scoring started).
const (
	defaultGenerate = 200
	maxGenerate     = 1_000_000
)

// auditItems reads DATA (a file, or standard input for "-") or generates the items, and
// records where they came from in o.
func auditItems(io *cli.IO, args []string, gen string, n int, skipBad bool, seed uint64, o *audit.RunOptions) ([]audit.Item, error) {
	if len(args) == 1 {
		var ds *audit.Dataset
		var err error
		if args[0] == "-" {
			var text string
			if text, err = readStdin(io); err == nil {
				if ds, err = audit.Read([]byte(text), skipBad); err != nil {
					err = fmt.Errorf("audit: standard input: %w", err)
				}
			}
		} else {
			ds, err = audit.ReadFile(args[0], skipBad)
		}
		if err != nil {
			return nil, err
		}
		o.Data, o.Schema, o.Skipped = args[0], ds.Schema, ds.Skipped
		if io.ErrTTY && len(ds.Skipped) > 0 {
			fmt.Fprintf(io.Err, "skipped %d bad rows (first: line %d: %s)\n", len(ds.Skipped), ds.Skipped[0].Line, ds.Skipped[0].Error)
		}
		items := ds.Items
		if n > 0 && n < len(items) {
			items = items[:n]
			o.Data = fmt.Sprintf("%s (first %d)", args[0], n)
		}
		return items, nil
	}
	g, err := audit.LookupGenerator(gen)
	if err != nil {
		return nil, cli.Usagef("--generate: %v", strings.TrimPrefix(err.Error(), "audit: "))
	}
	if n == 0 {
		n = defaultGenerate
	}
	if n > maxGenerate {
		return nil, cli.Usagef("--n %d: --generate makes at most %d items", n, maxGenerate)
	}
	items, err := g.Generate(n, seed)
	if err != nil {
		return nil, err
	}
	if t, ok := g.(audit.PromptTemplater); ok {
		o.Format.Template = t.PromptTemplate()
	}
	o.Data = fmt.Sprintf("generate:%s n=%d seed=%d", gen, n, seed)
	o.Schema = "generated"
	return items, nil
}

var slugBad = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// modelSlug names a model's output folder: the base name of its spec, made safe, with its
// index when two specs share a name.
func modelSlug(spec string, i int, specs []string) string {
	slug := func(s string) string {
		if modelspec.IsDefault(s) {
			return "default"
		}
		return strings.Trim(slugBad.ReplaceAllString(filepath.Base(strings.TrimRight(s, "/")), "-"), "-")
	}
	for j, o := range specs {
		if j != i && slug(strings.TrimSpace(o)) == slug(spec) {
			return fmt.Sprintf("%s-%d", slug(spec), i)
		}
	}
	return slug(spec)
}

// progressBar draws "model [====>    ] 120/1000 items  35.2 items/s  ETA 0:25" on a
// terminal's standard error, and nothing elsewhere.
func progressBar(io *cli.IO, name string) func(done, total int) {
	if !io.ErrTTY {
		return nil
	}
	var start time.Time
	first := -1
	return func(done, total int) {
		if first < 0 {
			start, first = time.Now(), done
		}
		const width = 30
		fill := 0
		if total > 0 {
			fill = done * width / total
		}
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		rate, eta := 0.0, "-"
		if el := time.Since(start).Seconds(); el > 0 && done > first {
			rate = float64(done-first) / el
			left := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
			eta = fmt.Sprintf("%d:%02d", int(left.Minutes()), int(left.Seconds())%60)
		}
		fmt.Fprintf(io.Err, "\r%s [%s] %d/%d items  %.1f items/s  ETA %s ", name, bar, done, total, rate, eta)
		if done == total {
			fmt.Fprintln(io.Err)
		}
	}
}

// printAudit prints one summary's table, or a comparison of several. CSV is summary.csv's
// long form (every estimate at full precision), with a model column.
func printAudit(io *cli.IO, f cli.Format, sums []*audit.Summary) error {
	if f == cli.CSV {
		r := &cli.Rows{Header: append([]string{"model"}, audit.CSVHeader...)}
		for _, s := range sums {
			for _, row := range s.CSVRows() {
				r.Cells = append(r.Cells, append([]string{s.Model}, row...))
			}
		}
		return r.WriteCSV(io.Out)
	}
	var h []string
	var rows [][]string
	var v any = sums
	if len(sums) == 1 {
		h, rows = sums[0].Table()
		v = sums[0]
	} else {
		h, rows = audit.CompareTable(sums)
	}
	r := &cli.Rows{Header: h, Cells: rows}
	if f == cli.Table && len(sums) == 1 {
		s := sums[0]
		fmt.Fprintf(io.Out, "%s on %s: %d items, %d trials (orders: %s)\n", s.Model, s.Data, s.Items, s.Trials, s.Permute)
	}
	if err := cli.Write(io, f, r, v, false); err != nil {
		return err
	}
	if f == cli.Table && len(sums) == 1 && len(sums[0].Groups) > 0 {
		h, rows := sums[0].GroupTable()
		fmt.Fprintf(io.Out, "\nby group (letters rule):\n")
		return (&cli.Rows{Header: h, Cells: rows}).WriteTable(io.Out, false)
	}
	return nil
}

func newAuditMergeCommand() *cli.Command {
	c := cli.NewCommand("merge", "audit merge DIR... [--out DIR]", "Join the shards of an audit into the summary a single run gives")
	c.Long = `Reads every meta-shard-K-of-N.json and items-shard-K-of-N.jsonl in the folders, checks that
they are the complete shards of one run, and writes items.jsonl, meta.json, summary.json,
summary.csv, report.md and the plots, as a single run would. A folder without shard files
whose subfolders have them (an audit of several models) is merged subfolder by subfolder,
each in place, with a comparison table.`
	c.Example = `  $ mechlens audit --shard 0/2 --out node1
  $ mechlens audit --shard 1/2 --out node2
  $ mechlens audit merge node1 node2 --out results`
	o := &auditMergeOptions{}
	cli.TextVar(c.Flags, &o.out, "out", "", "folder for the merged outputs (default: the first DIR)")
	c.Flags.BoolVar(&o.noPlots, "no-plots", false, "do not write the PNG plots")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		if len(args) == 0 {
			return cli.Usagef("want at least one folder")
		}
		opts.dirs = args
		return runAuditMerge(ctx, io, opts)
	}
	return c
}

// auditMergeOptions are mechlens audit merge's flags and folders.
type auditMergeOptions struct {
	dirs    []string
	out     string
	noPlots bool
	format  cli.Format
}

// runAuditMerge merges the shards in o.dirs, or in the per-model subfolders of o.dirs[0].
func runAuditMerge(_ context.Context, io *cli.IO, o auditMergeOptions) error {
	dst, flagName := o.out, "--out"
	if dst == "" {
		dst, flagName = o.dirs[0], "folder"
	}
	if err := checkOut(flagName, dst, true); err != nil {
		return err
	}
	found := false
	for _, d := range o.dirs {
		found = found || audit.HasShards(d)
	}
	if found || len(o.dirs) > 1 {
		s, err := audit.Merge(o.dirs, dst, !o.noPlots)
		if err != nil {
			return err
		}
		return printAudit(io, o.format, []*audit.Summary{s})
	}
	// One folder of per-model subfolders.
	entries, err := os.ReadDir(o.dirs[0])
	if err != nil {
		return fmt.Errorf("audit merge: %w", err)
	}
	var sums []*audit.Summary
	for _, e := range entries {
		sub := filepath.Join(o.dirs[0], e.Name())
		if !e.IsDir() || !audit.HasShards(sub) {
			continue
		}
		subOut := sub
		if o.out != "" {
			subOut = filepath.Join(o.out, e.Name())
		}
		s, err := audit.Merge([]string{sub}, subOut, !o.noPlots)
		if err != nil {
			return err
		}
		sums = append(sums, s)
	}
	if len(sums) == 0 {
		return fmt.Errorf("audit merge: no shard files (meta-shard-K-of-N.json) in %s or its subfolders", o.dirs[0])
	}
	if len(sums) > 1 {
		if err := audit.WriteCompare(dst, sums); err != nil {
			return err
		}
	}
	return printAudit(io, o.format, sums)
}
