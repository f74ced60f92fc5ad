package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/fsutil"
)

// Config is what decides an audit's numbers; it is recorded in meta.json and summary.json.
type Config struct {
	Model      string   `json:"model"`
	Processing []string `json:"processing"`
	Edits      []string `json:"edits,omitempty"` // the model's edits (gpt2.Model.Edits), one line each
	Data       string   `json:"data"`            // the file read, or "generate:NAME n=N seed=S"
	Schema     string   `json:"schema"`          // of the file, or "generated"
	Format     Format   `json:"format"`
	Permute    string   `json:"permute"`
	Bootstrap  int      `json:"bootstrap"` // resamples for the confidence intervals
	Seed       uint64   `json:"seed"`      // of the bootstrap
	Skipped    []Skip   `json:"skipped"`   // bad rows left out by --skip-bad
}

// Summary is summary.json: the configuration and the metrics.
type Summary struct {
	Config
	Metrics
}

// Meta is meta.json (meta-shard-K-of-N.json for a shard): what resume and merge check.
type Meta struct {
	Version int `json:"version"`
	Config
	Fingerprint string `json:"fingerprint"` // SHA-256 of every item of the data set
	Items       int    `json:"items"`       // in the whole data set
	Shard       int    `json:"shard"`       // 0-based; 0 when not sharded
	Shards      int    `json:"shards"`      // 0 when not sharded
	Begin       int    `json:"begin"`       // this run's items are [begin, end)
	End         int    `json:"end"`
}

const metaVersion = 1

// RunOptions configure Run.
type RunOptions struct {
	Config
	// Out is the folder written; "" keeps everything in memory.
	Out string
	// Resume continues the run whose journal is in Out.
	Resume bool
	// Shard and Shards select the items [Shard·n/Shards, (Shard+1)·n/Shards) (0-based);
	// Shards 0 means all.
	Shard, Shards int
	// NoPlots skips the PNG files.
	NoPlots bool
	// Chunk is how many items are scored between journal writes (default 32).
	Chunk int
	// Budget overrides the scorer's tokens per forward pass when > 0.
	Budget int
	// Progress, if set, is called after each chunk with the items done (resumed ones
	// included) and the items of this run.
	Progress func(done, total int)
}

// Files names the outputs of one run in a folder.
type Files struct {
	Items, Journal, Meta, Summary, CSV, Report string
	Selection, Accuracy, Lens                  string
}

// FilesIn names the outputs of shard k of n in dir (n = 0: not sharded).
func FilesIn(dir string, k, n int) Files {
	sfx := ""
	if n > 0 {
		sfx = fmt.Sprintf("-shard-%d-of-%d", k, n)
	}
	p := func(s string) string { return filepath.Join(dir, s) }
	return Files{
		Items: p("items" + sfx + ".jsonl"), Journal: p("items" + sfx + ".jsonl.part"), Meta: p("meta" + sfx + ".json"),
		Summary: p("summary.json"), CSV: p("summary.csv"), Report: p("report.md"),
		Selection: p("selection.png"), Accuracy: p("accuracy.png"), Lens: p("lens.png"),
	}
}

// ShardRange returns the items [begin, end) of shard k of n over total items.
func ShardRange(total, k, n int) (begin, end int) {
	if n <= 0 {
		return 0, total
	}
	return k * total / n, (k + 1) * total / n
}

// Fingerprint identifies a list of items: resume and merge refuse to mix data sets.
func Fingerprint(items []Item) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for i := range items {
		enc.Encode(&items[i])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Run audits m on items (or on its shard of them). With Out set it journals every chunk to
// Out's items*.jsonl.part, so that an interrupted run resumes where it stopped, and at the
// end writes the items file, meta.json and, unless sharded, the summary, CSV, report and
// plots. A cancelled ctx returns ctx.Err() with the journal intact.
func Run(ctx context.Context, m *gpt2.Model, items []Item, o RunOptions) (_ *Summary, err error) {
	f, err := o.Format.normalize()
	if err != nil {
		return nil, err
	}
	o.Format = f
	if o.Permute == "" {
		o.Permute = PermuteNone
	}
	o.Processing = append([]string{}, m.Processing...)
	o.Edits = m.Edits
	if o.Shards < 0 || o.Shards > 0 && (o.Shard < 0 || o.Shard >= o.Shards) {
		return nil, fmt.Errorf("audit: shard %d of %d: want 0 ≤ shard < shards", o.Shard, o.Shards)
	}
	if o.Shards == 0 {
		o.Shard = 0
	}
	if o.Chunk <= 0 {
		o.Chunk = 32
	}
	sc, err := NewScorer(m, f, o.Permute)
	if err != nil {
		return nil, err
	}
	if o.Budget > 0 {
		sc.Budget = o.Budget
	}
	sc.Context = ctx
	begin, end := ShardRange(len(items), o.Shard, o.Shards)
	meta := Meta{Version: metaVersion, Config: o.Config, Fingerprint: Fingerprint(items), Items: len(items),
		Shard: o.Shard, Shards: o.Shards, Begin: begin, End: end}
	var files Files
	var done []Record
	var journal *os.File
	journaled := 0 // records this run appended to the journal
	if o.Out != "" {
		files = FilesIn(o.Out, o.Shard, o.Shards)
		made := newFolders(o.Out)
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if done, err = resume(files, meta, items, o.Resume); err != nil {
			return nil, err
		}
		if err := writeJSON(files.Meta, meta); err != nil {
			return nil, err
		}
		// Rewrite the journal with the complete items only, then append to it.
		if err := writeRecords(files.Journal, done); err != nil {
			return nil, err
		}
		if journal, err = os.OpenFile(files.Journal, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		defer journal.Close()
		if len(done) == 0 {
			// A run that fails before its first item is journaled leaves nothing behind: its
			// meta.json and empty journal would refuse every later run in the folder.
			defer func() {
				if err != nil && journaled == 0 {
					journal.Close()
					os.Remove(files.Journal)
					os.Remove(files.Meta)
					for _, d := range made {
						os.Remove(d) // removes only an empty folder
					}
				}
			}()
		}
	}
	have := map[int]bool{}
	for _, r := range done {
		have[r.Item] = true
	}
	var todo []int
	for i := begin; i < end; i++ {
		if !have[i] {
			todo = append(todo, i)
		}
	}
	recs := done
	count := end - begin - len(todo)
	if o.Progress != nil {
		o.Progress(count, end-begin)
	}
	for lo := 0; lo < len(todo); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// A chunk is a run of consecutive items, so Score can number them.
		hi := lo + 1
		for hi < len(todo) && hi-lo < o.Chunk && todo[hi] == todo[hi-1]+1 {
			hi++
		}
		out, err := sc.Score(items[todo[lo]:todo[hi-1]+1], todo[lo])
		if err != nil {
			return nil, err
		}
		if journal != nil {
			if err := appendRecords(journal, out); err != nil {
				return nil, fmt.Errorf("audit: %s: %w", files.Journal, err)
			}
			journaled += len(out)
		}
		recs = append(recs, out...)
		count += hi - lo
		lo = hi
		if o.Progress != nil {
			o.Progress(count, end-begin)
		}
	}
	sortRecords(recs)
	metrics, err := ComputeMetricsContext(ctx, recs, o.Bootstrap, o.Seed, o.Permute != PermuteNone)
	if err != nil {
		return nil, err
	}
	s := &Summary{Config: o.Config, Metrics: metrics}
	if o.Out == "" {
		return s, nil
	}
	if err := writeRecords(files.Items, recs); err != nil {
		return nil, err
	}
	journal.Close()
	if err := os.Remove(files.Journal); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if o.Shards == 0 {
		if err := WriteReports(o.Out, s, !o.NoPlots); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// resume returns the records of the items that an earlier run in the same folder finished
// completely (from its journal, or its items file when it ended), after checking that it
// audited the same thing. Without resume, a journal left there is an error.
func resume(files Files, meta Meta, items []Item, resume bool) ([]Record, error) {
	st, errJ := os.Stat(files.Journal)
	if errJ == nil && st.Size() == 0 {
		// An empty journal is a run that failed before its first item (left by an older
		// mechlens): nothing to continue or protect.
		return nil, nil
	}
	if !resume {
		if errJ == nil {
			return nil, fmt.Errorf("audit: %s: an interrupted run is there; pass --resume to continue it, or remove the file", files.Journal)
		}
		return nil, nil
	}
	b, err := os.ReadFile(files.Meta)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // nothing to resume: start afresh
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	k, got, exp, err := metaDiff(b, meta)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %v", files.Meta, err)
	}
	if k != "" {
		return nil, fmt.Errorf("audit: %s: the run there had %s %s, this one %s; use another --out or remove the folder", files.Meta, k, got, exp)
	}
	src := files.Journal
	if errJ != nil {
		src = files.Items
	}
	recs, err := readRecords(src, true)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return completeItems(recs, items, meta), nil
}

// metaDiff names the first field in which the meta.json content b differs from want, as
// (field, b's value, want's value); field is "" when they agree.
func metaDiff(b []byte, want Meta) (field, got, exp string, err error) {
	var g, e map[string]any
	wb, _ := json.Marshal(want)
	if err := json.Unmarshal(b, &g); err != nil {
		return "", "", "", err
	}
	json.Unmarshal(wb, &e)
	// The likeliest causes first, then the rest in name order.
	keys := []string{"model", "processing", "data", "fingerprint", "format", "permute", "bootstrap", "seed", "shards", "shard"}
	var rest []string
	for k := range e {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range append(keys, rest...) {
		gv, _ := json.Marshal(g[k])
		ev, _ := json.Marshal(e[k])
		if !bytes.Equal(gv, ev) {
			return k, clipS(string(gv)), clipS(string(ev)), nil
		}
	}
	return "", "", "", nil
}

func clipS(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// completeItems keeps the records of items in [meta.Begin, meta.End) that have every one of
// their orders exactly once, and drops the rest (they will be scored again).
func completeItems(recs []Record, items []Item, meta Meta) []Record {
	byItem := map[int]map[int]Record{}
	for _, r := range recs {
		if r.Item < meta.Begin || r.Item >= meta.End || r.ID != items[r.Item].ID {
			continue
		}
		if byItem[r.Item] == nil {
			byItem[r.Item] = map[int]Record{}
		}
		if _, dup := byItem[r.Item][r.Perm]; !dup {
			byItem[r.Item][r.Perm] = r
		}
	}
	var out []Record
	for i, perms := range byItem {
		want, err := Permutations(len(items[i].Choices), meta.Permute)
		if err != nil || len(perms) != len(want) {
			continue
		}
		for p := range want {
			r, ok := perms[p]
			if !ok {
				break
			}
			out = append(out, r)
		}
	}
	sortRecords(out)
	return out
}

func sortRecords(recs []Record) {
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Item != recs[j].Item {
			return recs[i].Item < recs[j].Item
		}
		return recs[i].Perm < recs[j].Perm
	})
}

// ReadRecords reads a per-item JSONL file.
func ReadRecords(path string) ([]Record, error) { return readRecords(path, false) }

// readRecords reads JSONL records; with journal, a last line without its newline (cut by an
// interruption) is dropped instead of being an error.
func readRecords(path string, journal bool) ([]Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("audit: %w", err)
	}
	lines := bytes.Split(b, []byte("\n"))
	if journal {
		lines = lines[:len(lines)-1] // after the last newline: empty, or a cut line
	}
	var out []Record
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("audit: %s: line %d: %v", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func encodeRecords(w io.Writer, recs []Record) error {
	enc := json.NewEncoder(w)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// appendRecords adds recs to the journal in one write and syncs it, so that a crash leaves
// at most one cut line.
func appendRecords(f *os.File, recs []Record) error {
	var b bytes.Buffer
	if err := encodeRecords(&b, recs); err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		return err
	}
	return f.Sync()
}

func writeRecords(path string, recs []Record) error {
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error { return encodeRecords(w, recs) })
}

func writeJSON(path string, v any) error {
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// ParseShard reads "K/N" (0-based K), or "auto" (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN
// of SLURM_ARRAY_TASK_COUNT), or "auto/N" (K from JOB_COMPLETION_INDEX, Kubernetes' indexed
// jobs, or from SLURM). getenv is os.Getenv in the command.
func ParseShard(s string, getenv func(string) string) (k, n int, err error) {
	bad := func(format string, a ...any) (int, int, error) {
		return 0, 0, fmt.Errorf("--shard %s: "+format, append([]any{s}, a...)...)
	}
	ks, ns, hasN := strings.Cut(s, "/")
	envInt := func(name string) (int, bool, error) {
		v := getenv(name)
		if v == "" {
			return 0, false, nil
		}
		x, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, fmt.Errorf("%s=%q is not an integer", name, v)
		}
		return x, true, nil
	}
	if hasN {
		if n, err = strconv.Atoi(ns); err != nil || n < 1 {
			return bad("the count %q is not a positive integer", ns)
		}
	}
	switch {
	case ks == "auto":
		if x, ok, err := envInt("JOB_COMPLETION_INDEX"); err != nil {
			return bad("%v", err)
		} else if ok {
			if !hasN {
				return bad("JOB_COMPLETION_INDEX gives the index only: pass the count as --shard auto/N")
			}
			k = x
			break
		}
		id, ok, err := envInt("SLURM_ARRAY_TASK_ID")
		if err != nil {
			return bad("%v", err)
		}
		if !ok {
			return bad("neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set")
		}
		lo, _, err := envInt("SLURM_ARRAY_TASK_MIN")
		if err != nil {
			return bad("%v", err)
		}
		k = id - lo
		if !hasN {
			c, ok, err := envInt("SLURM_ARRAY_TASK_COUNT")
			if err != nil {
				return bad("%v", err)
			}
			if !ok {
				return bad("SLURM_ARRAY_TASK_COUNT is not set: pass the count as --shard auto/N")
			}
			n = c
		}
	case !hasN:
		return bad("want K/N (0 ≤ K < N), auto or auto/N")
	default:
		if k, err = strconv.Atoi(ks); err != nil {
			return bad("the index %q is not an integer", ks)
		}
	}
	if k < 0 || k >= n {
		return bad("shard index %d outside [0, %d)", k, n)
	}
	return k, n, nil
}

// newFolders lists the folders MkdirAll(dir) would create, deepest first.
func newFolders(dir string) []string {
	var made []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			return made
		}
		made = append(made, d)
	}
}
