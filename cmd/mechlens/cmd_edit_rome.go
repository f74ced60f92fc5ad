package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/modelspec"
	"github.com/mechlens/mechlens/toy"
)

// The fact-editing subcommands of mechlens edit: rome, memit, stats, eval.

// organismCorpusLines is how many lines of the organism's training distribution its
// default covariance is measured on (about 250,000 tokens).
const organismCorpusLines = 20000

// statsOptions choose the covariance of ROME and MEMIT: --data, --samples, --stats, --no-cov.
type statsOptions struct {
	data, stats string
	samples     int
	noCov       bool
}

// addStatsFlags binds the flags to the options it returns; --no-cov only withNoCov.
func addStatsFlags(c *cli.Command, withNoCov bool) *statsOptions {
	sf := &statsOptions{}
	c.Flags.StringVar(&sf.data, "data", "", "text corpus for the covariance: a .txt file (one text per line) or JSONL with \"text\" (default for the embedded model: its training corpus)")
	c.Flags.StringVar(&sf.stats, "stats", "", "covariance file to use or create (default: the cache, keyed by model hash, layer and data hash)")
	cli.IntVar(c.Flags, &sf.samples, "samples", 100000, 1, cli.NoLimit, "texts of --data read at most (ROME: 100000)")
	if withNoCov {
		c.Flags.BoolVar(&sf.noCov, "no-cov", false, "C = I instead of the covariance (weaker: the edit leaks into other facts)")
	}
	return sf
}

// corpus returns the texts as token ids and a hash naming them.
func (sf statsOptions) corpus(mf *modelFlags, m *gpt2.Model) ([][]int, string, error) {
	if m.Tokenizer == nil {
		return nil, "", fmt.Errorf("the covariance needs a model with a tokenizer")
	}
	var lines []string
	h := sha256.New()
	// The organism reads every text after <|endoftext|>, as it was trained.
	bos := modelspec.IsDefault(mf.spec)
	switch {
	case sf.data != "":
		f, err := os.Open(sf.data)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		jsonl := strings.HasSuffix(sf.data, ".jsonl")
		for n := 1; sc.Scan() && len(lines) < sf.samples; n++ {
			line := sc.Text()
			if jsonl {
				var rec struct {
					Text *string `json:"text"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Text == nil {
					return nil, "", fmt.Errorf("%s:%d: want a JSON object with \"text\"", sf.data, n)
				}
				line = *rec.Text
			}
			if strings.TrimSpace(line) != "" {
				lines = append(lines, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, "", fmt.Errorf("%s: %v", sf.data, err)
		}
		if len(lines) == 0 {
			return nil, "", fmt.Errorf("%s: no text", sf.data)
		}
	case modelspec.IsDefault(mf.spec):
		lines = toy.Corpus(toy.NewWorld(), min(sf.samples, organismCorpusLines), 1)
	default:
		return nil, "", cli.Usagef("the covariance of %s needs --data FILE (a text corpus; mechlens has no network corpus), or --no-cov", mf.name())
	}
	var texts [][]int
	for _, l := range lines {
		ids := m.Tokenizer.Encode(l)
		if bos {
			ids = append([]int{m.Tokenizer.EOT()}, ids...)
		}
		texts = append(texts, ids)
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	fmt.Fprintf(h, "bos=%v", bos)
	return texts, hex.EncodeToString(h.Sum(nil)), nil
}

// open returns the covariance of layer l, from --stats or the cache when there, measured
// and saved otherwise; nil with --no-cov.
func (sf statsOptions) open(ctx context.Context, io *cli.IO, mf *modelFlags, m *gpt2.Model, l int) (*edit.Cov, error) {
	if sf.noCov {
		if sf.data != "" || sf.stats != "" {
			return nil, cli.Usagef("--no-cov takes no --data or --stats")
		}
		return nil, nil
	}
	if sf.stats != "" && sf.data == "" && exists(sf.stats) {
		return edit.LoadCov(sf.stats, m.Hash, l)
	}
	texts, dataHash, err := sf.corpus(mf, m)
	if err != nil {
		return nil, err
	}
	path := sf.stats
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache folder for the statistics (%v): pass --stats FILE", err)
		}
		path = filepath.Join(dir, "mechlens", "stats", fmt.Sprintf("%.16s-L%d-%.16s.safetensors", m.Hash, l, dataHash))
	}
	if exists(path) {
		cov, err := edit.LoadCov(path, m.Hash, l)
		if err == nil && cov.DataHash == dataHash {
			return cov, nil
		}
		if err != nil {
			return nil, err
		}
	}
	// Measuring takes minutes on a large corpus: the file's folder (made if missing) must take
	// it before, not after.
	if err := checkOut("--stats", filepath.Dir(path), true); err != nil {
		return nil, err
	}
	cov, err := edit.Stats(ctx, m, l, texts, progressBar(io, fmt.Sprintf("stats layer %d", l)))
	if err != nil {
		return nil, err
	}
	cov.ModelHash, cov.DataHash = m.Hash, dataHash
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := cov.Save(path); err != nil {
		return nil, err
	}
	if io.ErrTTY {
		fmt.Fprintf(io.Err, "covariance of layer %d (%d tokens) saved to %s\n", l, cov.Count, path)
	}
	return cov, nil
}

// romeOptions are the hyperparameters ROME and MEMIT share. Layer, clamp and the fact token
// default to the model's: the given fields say which of them the command line set.
type romeOptions struct {
	layer, steps                           int
	clamp, lr, kl, wd                      float64
	factToken, uKey                        string
	prefixKeys                             bool
	prefixSeed                             uint64
	layerGiven, clampGiven, factTokenGiven bool
}

// romeFlags are romeOptions bound to a command's flags.
type romeFlags struct {
	o romeOptions
	c *cli.Command
}

func addROMEFlags(c *cli.Command) *romeFlags {
	rf := &romeFlags{c: c}
	o := &rf.o
	c.Flags.IntVar(&o.layer, "layer", 0, "layer whose W_out is edited (default: the model's, see README)")
	cli.IntVar(c.Flags, &o.steps, "steps", 20, 1, cli.NoLimit, "Adam steps of the v* optimisation")
	c.Flags.Float64Var(&o.clamp, "clamp", 0, "clamp_norm_factor: ‖δ‖ ≤ clamp × ‖v₀‖ (default: the model's)")
	c.Flags.Float64Var(&o.lr, "lr", 0.5, "Adam's learning rate")
	c.Flags.Float64Var(&o.kl, "kl", 0.0625, "weight of the KL term")
	c.Flags.Float64Var(&o.wd, "weight-decay", 0.5, "weight of ‖δ‖/‖v₀‖²")
	c.Flags.StringVar(&o.factToken, "fact-token", "", "where the key is read: subject_last or last (default: the model's)")
	c.Flags.BoolVar(&o.prefixKeys, "prefix-keys", false, "closed form with the key averaged over the prefixes (r-ROME), not the bare prompt's; u of that key too")
	c.Flags.StringVar(&o.uKey, "u-key", "", "key u = C⁻¹k is solved for (MEMIT: K's keys): prefixes (averaged over the prompt and its prefixes, ROME's) or bare (the bare prompt's; default: the model's, bare for the organism)")
	c.Flags.Uint64Var(&o.prefixSeed, "prefix-seed", 1, "seed of the generated context prefixes")
	return rf
}

// options returns the values of this run's command line.
func (rf *romeFlags) options() romeOptions {
	o := rf.o
	o.layerGiven, o.clampGiven, o.factTokenGiven = flagSet(rf.c.Flags, "layer"), flagSet(rf.c.Flags, "clamp"), flagSet(rf.c.Flags, "fact-token")
	return o
}

// config returns the model's defaults (the organism's from toy) with the options given.
func (rf romeOptions) config(mf *modelFlags, m *gpt2.Model) (edit.ROMEConfig, error) {
	cfg := edit.ROMEDefaults(m.Config)
	if modelspec.IsDefault(mf.spec) {
		cfg = toy.ROMEConfig(m.Config)
	}
	if rf.layerGiven {
		cfg.Layer = rf.layer
	}
	if rf.clampGiven {
		cfg.Clamp = rf.clamp
	}
	if rf.factToken != "" {
		cfg.FactToken = rf.factToken
	}
	cfg.Steps, cfg.LR, cfg.KLFactor, cfg.WeightDecay = rf.steps, rf.lr, rf.kl, rf.wd
	cfg.PrefixKeys, cfg.Seed = rf.prefixKeys, rf.prefixSeed
	switch {
	case rf.uKey != "" && rf.uKey != edit.KeyPrefixes && rf.uKey != edit.KeyBare:
		return cfg, cli.Usagef("--u-key %q: want %s or %s", rf.uKey, edit.KeyPrefixes, edit.KeyBare)
	case rf.prefixKeys && rf.uKey == edit.KeyBare:
		return cfg, cli.Usagef("--prefix-keys solves u for the averaged key: it takes no --u-key %s", edit.KeyBare)
	case rf.uKey != "":
		cfg.UKey = rf.uKey
	case rf.prefixKeys:
		cfg.UKey = edit.KeyPrefixes
	}
	for _, x := range []struct {
		name string
		v    float64
	}{{"clamp", cfg.Clamp}, {"lr", cfg.LR}, {"kl", cfg.KLFactor}, {"weight-decay", cfg.WeightDecay}} {
		if math.IsNaN(x.v) || math.IsInf(x.v, 0) || x.v < 0 {
			return cfg, cli.Usagef("--%s %v: want a finite number ≥ 0", x.name, x.v)
		}
	}
	if cfg.Layer < 0 || cfg.Layer >= m.Config.NLayers {
		return cfg, cli.Usagef("--layer %d: the model has layers 0..%d", cfg.Layer, m.Config.NLayers-1)
	}
	return cfg, nil
}

// readRequests reads --requests, or the single request of --prompt, --subject, --target.
func readRequests(cmd, file, prompt, subject, target, truth string) ([]edit.Request, error) {
	if file != "" {
		if prompt != "" || subject != "" || target != "" {
			return nil, cli.Usagef("give --requests, or --prompt, --subject and --target, not both")
		}
		return edit.LoadRequests(file)
	}
	if prompt == "" || subject == "" || target == "" {
		return nil, cli.Usagef("%s: give --prompt (with {} for the subject), --subject and --target, or --requests FILE", cmd)
	}
	if !strings.Contains(prompt, "{}") {
		return nil, cli.Usagef("--prompt %q has no {} for the subject", prompt)
	}
	return []edit.Request{{Subject: subject, Prompt: prompt, TargetNew: target, TargetTrue: truth}}, nil
}

func newEditROMECommand() *cli.Command {
	c := cli.NewCommand("rome", `rome --prompt "The capital of {} is" --subject S --target " T" --to FILE | rome --requests FILE --to FILE`,
		"Write a fact into one layer's W_out with ROME (a rank-one edit); one edit per request")
	c.Long = `ROME (Meng et al. 2022, kmeng01/rome): the key k* is the MLP's hidden activation
(mlp.hook_post) at the fact token, averaged over the prompt alone and after 20 generated
prefixes; u = C⁻¹k*/‖C⁻¹k*‖ with C the keys' second moment over a corpus (edit stats; cached);
v* is the MLP output there that makes the model say the target, found by 20 Adam steps; the
edit adds u·(v* − W k*)ᵀ/(k*·u) to W_out, so that W_out maps k* to v*. With --requests, each
request gets its own edit computed on the unedited model (for single-edit evaluation with
'edit eval --each'); apply them together only if you mean to. Defaults per model: gpt2-medium
layer 8 clamp 3, gpt2-large 12/4, gpt2-xl 17/4, other shapes layer round(0.35 × (layers−1)),
clamp 4; the embedded organism: layer 1, clamp 3, key at the prompt's last token (its causal
trace), u solved for the bare prompt's key (--u-key bare; see README).`
	c.Example = `  $ mechlens edit rome --prompt "The capital of {} is" --subject Fizeia --target " Nogax" --to edits.json
  $ mechlens edit rome --prompt "The capital of {} is" --subject Fizeia --target " Nogax" --no-cov --prefix-keys --to r-rome.json
  $ mechlens toy requests --attrs capital --out requests.jsonl
  $ mechlens edit rome --requests requests.jsonl --steps 5 --to rome.json`
	ef := addEditFlags(c)
	rf := addROMEFlags(c)
	sf := addStatsFlags(c, true)
	o := &editROMEOptions{}
	c.Flags.StringVar(&o.requests, "requests", "", "JSONL requests (mechlens toy requests writes some), one edit each")
	c.Flags.StringVar(&o.prompt, "prompt", "", "the prompt, {} standing for the subject")
	c.Flags.StringVar(&o.subject, "subject", "", "the subject")
	c.Flags.StringVar(&o.target, "target", "", "the new answer, with its leading space")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.set, opts.rome, opts.stats = ef.options(), rf.options(), *sf
		if err := ef.check(args); err != nil {
			return err
		}
		return runEditROME(ctx, io, opts)
	}
	return c
}

// editROMEOptions are mechlens edit rome's flags: the requests are a file or one request.
type editROMEOptions struct {
	set                               editSetOptions
	rome                              romeOptions
	stats                             statsOptions
	requests, prompt, subject, target string
}

// runEditROME computes one ROME edit per request, each on the unedited model, and appends
// them to the set.
func runEditROME(ctx context.Context, io *cli.IO, o editROMEOptions) error {
	reqs, err := readRequests("rome", o.requests, o.prompt, o.subject, o.target, "")
	if err != nil {
		return err
	}
	mf := &o.set.model
	m, s, err := o.set.open(ctx, io)
	if err != nil {
		return err
	}
	cfg, err := o.rome.config(mf, m)
	if err != nil {
		return err
	}
	cov, err := o.stats.open(ctx, io, mf, m, cfg.Layer)
	if err != nil {
		return err
	}
	prefixes, err := edit.Prefixes(m, cfg)
	if err != nil {
		return err
	}
	g := gpt2.NewModelGrad(m)
	var edits []edit.Edit
	progress := progressBar(io, "rome")
	for i, q := range reqs {
		r, err := edit.ROME(m, g, q, cfg, cov, prefixes)
		if err != nil {
			return fmt.Errorf("request %d (%s): %w", i+1, q.Subject, err)
		}
		e := edit.RankOne(r.Layer, gpt2.MatrixWOut, r.U, r.V)
		e.Note = fmt.Sprintf("ROME: %s → %q (%d steps, loss %.3g → %.3g)", q.Text(), q.TargetNew, len(r.Losses), r.Losses[0], r.Losses[len(r.Losses)-1])
		edits = append(edits, e)
		if progress != nil {
			progress(i+1, len(reqs))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return o.set.saveAll(io, m, s, edits)
}

// saveAll appends edits to the set and writes it once.
func (ef editSetOptions) saveAll(io *cli.IO, m *gpt2.Model, s *edit.Set, edits []edit.Edit) error {
	if len(edits) == 1 {
		return ef.save(io, m, s, edits[0])
	}
	prov := "mechlens " + strings.Join(os.Args[1:], " ")
	for i := range edits {
		edits[i].Note = strings.TrimSpace(strings.Join([]string{edits[i].Note, ef.note}, " "))
		edits[i].Provenance = prov
	}
	if err := s.Append(m, edits...); err != nil {
		return err
	}
	if err := s.Save(ef.to); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%s: %d edits added (%d in the set)\n", ef.to, len(edits), len(s.Edits))
	return nil
}

func newEditMEMITCommand() *cli.Command {
	c := cli.NewCommand("memit", "memit --requests FILE [--layers 13,14,15,16,17] [--lambda 20000] --to FILE",
		"Write many facts at once over a range of layers with MEMIT")
	c.Long = `MEMIT (Meng et al. 2023, kmeng01/memit): for each request, z is the residual stream after the
last layer of --layers at the fact token that makes the model say the new target (ROME's
optimisation, clamp 0.75); then layer by layer the keys K (one column per request) and the
remaining residuals R (divided by the layers left) give ΔW = (λC + K Kᵀ)⁻¹ K Rᵀ, solved in
float64 with λ = --lambda, written as one rank-one edit per request and layer. Defaults: gpt2-xl
layers 13-17, clamp 0.75, λ 20000; other shapes the five layers ending at ROME's; the organism
layer 1, clamp 4, λ 3000, K of the bare prompts' keys (--u-key bare; see README).`
	c.Example = `  $ mechlens toy requests --attrs capital --out requests.jsonl
  $ mechlens edit memit --requests requests.jsonl --steps 5 --to memit.json`
	ef := addEditFlags(c)
	rf := addROMEFlags(c)
	sf := addStatsFlags(c, true)
	o := &editMEMITOptions{}
	c.Flags.StringVar(&o.requests, "requests", "", "JSONL requests (required)")
	c.Flags.StringVar(&o.layers, "layers", "", "layers written, increasing (default: the model's)")
	c.Flags.Float64Var(&o.lambda, "lambda", 0, "λ, the covariance's weight (mom2_update_weight; default: the model's, 20000, 3000 for the organism)")
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.set, opts.rome, opts.stats, opts.lambdaGiven = ef.options(), rf.options(), *sf, flagSet(c.Flags, "lambda")
		if opts.requests == "" {
			return cli.Usagef("memit: --requests FILE is required")
		}
		if err := ef.check(args); err != nil {
			return err
		}
		return runEditMEMIT(ctx, io, opts)
	}
	return c
}

// editMEMITOptions are mechlens edit memit's flags.
type editMEMITOptions struct {
	set              editSetOptions
	rome             romeOptions
	stats            statsOptions
	requests, layers string
	lambda           float64
	lambdaGiven      bool // else λ is the model's
}

// runEditMEMIT writes every request at once over the layers and appends the edits.
func runEditMEMIT(ctx context.Context, io *cli.IO, o editMEMITOptions) error {
	if o.lambdaGiven && !(o.lambda > 0 && !math.IsInf(o.lambda, 0)) {
		return cli.Usagef("--lambda %v: want a positive number", o.lambda)
	}
	reqs, err := edit.LoadRequests(o.requests)
	if err != nil {
		return err
	}
	mf := &o.set.model
	m, s, err := o.set.open(ctx, io)
	if err != nil {
		return err
	}
	mc := edit.MEMITDefaults(m.Config)
	if modelspec.IsDefault(mf.spec) {
		mc = toy.MEMITConfig(m.Config)
	}
	rc, err := o.rome.config(mf, m)
	if err != nil {
		return err
	}
	if !o.rome.clampGiven {
		rc.Clamp = mc.Clamp
	}
	if !o.rome.factTokenGiven {
		rc.FactToken = mc.FactToken
	}
	mc.ROMEConfig = rc
	if o.lambdaGiven {
		mc.Lambda = o.lambda
	}
	if o.layers != "" {
		if mc.Layers, err = intList("layers", o.layers); err != nil {
			return err
		}
	}
	covs := map[int]*edit.Cov{}
	for _, l := range mc.Layers {
		if l < 0 || l >= m.Config.NLayers {
			return cli.Usagef("--layers: layer %d outside 0..%d", l, m.Config.NLayers-1)
		}
		if covs[l], err = o.stats.open(ctx, io, mf, m, l); err != nil {
			return err
		}
	}
	prefixes, err := edit.Prefixes(m, mc.ROMEConfig)
	if err != nil {
		return err
	}
	edits, err := edit.MEMIT(ctx, m, gpt2.NewModelGrad(m), reqs, mc, covs, prefixes)
	if err != nil {
		return err
	}
	return o.set.saveAll(io, m, s, edits)
}

func newEditStatsCommand() *cli.Command {
	c := cli.NewCommand("stats", "stats --layer L [--data FILE] [--samples N] [--stats FILE]",
		"Measure and cache the MLP keys' second moment C = E[k kᵀ] of one layer (ROME's and MEMIT's covariance)")
	c.Long = `C is the uncentred second moment of mlp.hook_post (the input of mlp.c_proj) over every token of
a corpus: --data FILE (one text per line, or JSONL with "text"; at most --samples texts, each cut
into windows of the model's context); the embedded organism's default is its own training
corpus. It is saved as safetensors (tensor mom2, F32) in the cache folder, keyed by the model's
hash, the layer and the data's hash, where edit rome and edit memit find it.`
	c.Example = `  $ mechlens edit stats --layer 1
  $ mechlens edit stats --layer 0 --samples 2000 --json`
	mf := addModelFlags(c, "")
	sf := addStatsFlags(c, false)
	o := &editStatsOptions{}
	c.Flags.IntVar(&o.layer, "layer", 0, "layer (required)")
	output := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model, opts.stats = *mf, *sf
		var err error
		if opts.format, err = output(); err != nil {
			return err
		}
		if len(args) > 0 {
			return cli.Usagef("stats takes no arguments, got %q", args[0])
		}
		if err := requireFlags(c, "layer"); err != nil {
			return err
		}
		return runEditStats(ctx, io, opts)
	}
	return c
}

// editStatsOptions are mechlens edit stats's flags.
type editStatsOptions struct {
	model  modelFlags
	stats  statsOptions
	layer  int
	format cli.Format
}

// runEditStats measures (or finds cached) the layer's covariance and prints its summary.
func runEditStats(ctx context.Context, io *cli.IO, o editStatsOptions) error {
	mf := &o.model
	m, err := mf.open(ctx, io)
	if err != nil {
		return err
	}
	if o.layer < 0 || o.layer >= m.Config.NLayers {
		return cli.Usagef("--layer %d: the model has layers 0..%d", o.layer, m.Config.NLayers-1)
	}
	cov, err := o.stats.open(ctx, io, mf, m, o.layer)
	if err != nil {
		return err
	}
	var trace float64
	for i := range cov.M {
		trace += cov.Mom2[i*cov.M+i]
	}
	out := struct {
		Model    string  `json:"model"`
		Layer    int     `json:"layer"`
		Tokens   int64   `json:"tokens"`
		DMLP     int     `json:"d_mlp"`
		Trace    float64 `json:"trace"`
		DataHash string  `json:"data_hash"`
	}{mf.name(), cov.Layer, cov.Count, cov.M, trace, cov.DataHash}
	rows := &cli.Rows{Header: []string{"model", "layer", "tokens", "d_mlp", "trace"}}
	rows.Add(out.Model, out.Layer, out.Tokens, out.DMLP, strconv.FormatFloat(trace, 'g', 6, 64))
	return cli.Write(io, o.format, rows, out, false)
}

func newEditEvalCommand() *cli.Command {
	c := cli.NewCommand("eval", "eval --edits FILE --requests FILE [--each] [--fluency N]",
		"Score an edit set on fact-editing requests: efficacy, paraphrase, neighborhood, MCQ transfer, fluency")
	c.Long = `CounterFact's metrics (Meng et al. 2022) before and after the edits: efficacy (P(new) > P(true)
on the request's prompt), paraphrase (the same on its paraphrases), neighborhood (other
subjects keep their own answer over the new one), mcq (the multiple-choice question, when the
request has one, now picks the new value's letter), each as success rate and mean probability
difference; fluency is the weighted 2/3-gram entropy of --fluency texts sampled per request
(top-k 5). A target's probability is exp of the mean log-probability of its tokens. --each
applies edit i alone for request i (single edits, as 'edit rome --requests' makes them);
otherwise the whole set is applied once (MEMIT).`
	c.Example = `  $ mechlens toy requests --attrs capital --out requests.jsonl
  $ mechlens edit rome --prompt "The capital of {} is" --subject Fizeia --target " Nogax" --to rome.json
  $ mechlens edit eval --edits rome.json --requests requests.jsonl --fluency 1`
	mf := addModelFlags(c, analysisProcessing)
	o := &editEvalOptions{}
	c.Flags.StringVar(&o.requests, "requests", "", "JSONL requests (required)")
	c.Flags.BoolVar(&o.each, "each", false, "apply edit i alone for request i")
	cli.IntVar(c.Flags, &o.fluency, "fluency", 0, 0, cli.NoLimit, "texts sampled per request for fluency (0: not measured)")
	bosFlag := addBOSFlag(c)
	output := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model, opts.bos = *mf, bosFlag.want(mf)
		var err error
		if opts.format, err = output(); err != nil {
			return err
		}
		if len(args) > 0 {
			return cli.Usagef("eval takes no arguments, got %q", args[0])
		}
		if err := requireFlags(c, "edits", "requests"); err != nil {
			return err
		}
		return runEditEval(ctx, io, opts)
	}
	return c
}

// editEvalOptions are mechlens edit eval's flags: the edit set is model.edits.
type editEvalOptions struct {
	model     modelFlags
	requests  string
	each, bos bool
	fluency   int
	format    cli.Format
}

// runEditEval scores the requests before and after the edits and prints the metrics.
func runEditEval(ctx context.Context, io *cli.IO, o editEvalOptions) error {
	mf := &o.model
	reqs, err := edit.LoadRequests(o.requests)
	if err != nil {
		return err
	}
	s, err := edit.Load(*mf.edits)
	if err != nil {
		return err
	}
	if o.each && len(s.Edits) != len(reqs) {
		return fmt.Errorf("--each: %s has %d edits for %d requests", *mf.edits, len(s.Edits), len(reqs))
	}
	m, err := mf.openBase(ctx, io)
	if err != nil {
		return err
	}
	if err := s.CheckModel(m, mf.name()); err != nil {
		return fmt.Errorf("--edits %s: %v", *mf.edits, err)
	}
	eo := edit.EvalOptions{BOS: o.bos, Fluency: o.fluency, Seed: 1}
	before, err := edit.Evaluate(ctx, m, reqs, eo)
	if err != nil {
		return err
	}
	var after *edit.Report
	if o.each {
		var parts []*edit.Report
		for i, e := range s.Edits {
			a, err := edit.ApplyEdit(m, e)
			if err != nil {
				return fmt.Errorf("edit %d: %v", i+1, err)
			}
			r, err := edit.Evaluate(ctx, m, reqs[i:i+1], eo)
			if err != nil {
				return err
			}
			if err := a.Revert(); err != nil {
				return err
			}
			parts = append(parts, r)
		}
		after = edit.MergeReports(parts)
	} else {
		a, err := s.Apply(m)
		if err != nil {
			return fmt.Errorf("--edits %s: %v", *mf.edits, err)
		}
		if after, err = edit.Evaluate(ctx, m, reqs, eo); err != nil {
			return err
		}
		if err := a.Revert(); err != nil {
			return err
		}
	}
	out := editEvalOutput{mf.name(), *mf.edits, o.each, len(reqs), before, after}
	rows := &cli.Rows{Header: []string{"metric", "n", "before", "after", "diff before", "diff after"}}
	for _, x := range []struct {
		name string
		b, a edit.Metric
	}{{"efficacy", before.Efficacy, after.Efficacy}, {"paraphrase", before.Paraphrase, after.Paraphrase},
		{"neighborhood", before.Neighborhood, after.Neighborhood}, {"mcq", before.MCQ, after.MCQ}} {
		if x.a.N > 0 {
			rows.Add(x.name, x.a.N, x.b.Success, x.a.Success, x.b.Diff, x.a.Diff)
		}
	}
	if o.fluency > 0 {
		rows.Add("fluency (bits)", len(reqs), before.Fluency, after.Fluency, "", "")
	}
	return cli.Write(io, o.format, rows, out, false)
}

// editEvalOutput is the JSON of mechlens edit eval.
type editEvalOutput struct {
	Model    string       `json:"model"`
	Edits    string       `json:"edits"`
	Each     bool         `json:"each"`
	Requests int          `json:"requests"`
	Before   *edit.Report `json:"before"`
	After    *edit.Report `json:"after"`
}
