package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// HasShards reports whether dir holds shard files (meta-shard-K-of-N.json).
func HasShards(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "meta-shard-*-of-*.json"))
	return len(m) > 0
}

// Merge combines the finished shards found in dirs (every meta-shard-K-of-N.json with its
// items-shard-K-of-N.jsonl) into the outputs a single run writes, in out: items.jsonl,
// meta.json, summary.json, summary.csv, report.md and the plots. The shards must be of one
// run (same model, data, format, orders, bootstrap) and all present.
func Merge(dirs []string, out string, plots bool) (*Summary, error) {
	type shard struct {
		meta  Meta
		files Files
	}
	var shards []shard
	for _, d := range dirs {
		paths, _ := filepath.Glob(filepath.Join(d, "meta-shard-*-of-*.json"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("audit: %w", err)
			}
			var m Meta
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("audit: %s: %v", p, err)
			}
			if m.Shards < 1 || m.Shard < 0 || m.Shard >= m.Shards {
				return nil, fmt.Errorf("audit: %s: shard %d of %d is not a shard", p, m.Shard, m.Shards)
			}
			if f := FilesIn(d, m.Shard, m.Shards); f.Meta != filepath.Clean(p) {
				return nil, fmt.Errorf("audit: %s: holds shard %d of %d", p, m.Shard, m.Shards)
			}
			shards = append(shards, shard{m, FilesIn(d, m.Shard, m.Shards)})
		}
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("audit: no shard files (meta-shard-K-of-N.json) in %q", dirs)
	}
	sort.SliceStable(shards, func(i, j int) bool { return shards[i].meta.Shard < shards[j].meta.Shard })
	first := shards[0]
	n := first.meta.Shards
	for i, s := range shards {
		if i > 0 && s.meta.Shard == shards[i-1].meta.Shard {
			return nil, fmt.Errorf("audit: shard %d of %d found twice: %s and %s", s.meta.Shard, n, shards[i-1].files.Meta, s.files.Meta)
		}
		// Every shard must have audited the same thing: compare all but the shard fields.
		want := first.meta
		want.Shard, want.Begin, want.End = s.meta.Shard, s.meta.Begin, s.meta.End
		b, _ := json.Marshal(s.meta)
		if k, got, exp, _ := metaDiff(b, want); k != "" {
			return nil, fmt.Errorf("audit: %s and %s are not shards of one run: %s %s and %s", first.files.Meta, s.files.Meta, k, exp, got)
		}
	}
	for k := 0; k < n; k++ {
		if k >= len(shards) || shards[k].meta.Shard != k {
			return nil, fmt.Errorf("audit: shard %d of %d is missing (no meta-shard-%d-of-%d.json in %q)", k, n, k, n, dirs)
		}
	}
	var recs []Record
	for _, s := range shards {
		b, e := ShardRange(s.meta.Items, s.meta.Shard, n)
		if s.meta.Begin != b || s.meta.End != e {
			return nil, fmt.Errorf("audit: %s: items [%d, %d), want [%d, %d)", s.files.Meta, s.meta.Begin, s.meta.End, b, e)
		}
		r, err := ReadRecords(s.files.Items)
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("audit: shard %d of %d is unfinished (no %s); finish it with --resume", s.meta.Shard, n, s.files.Items)
		}
		if err != nil {
			return nil, err
		}
		if err := checkShard(r, s.meta); err != nil {
			return nil, fmt.Errorf("audit: %s: %w", s.files.Items, err)
		}
		recs = append(recs, r...)
	}
	meta := first.meta
	meta.Shard, meta.Shards, meta.Begin, meta.End = 0, 0, 0, meta.Items
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f := FilesIn(out, 0, 0)
	if err := writeRecords(f.Items, recs); err != nil {
		return nil, err
	}
	if err := writeJSON(f.Meta, meta); err != nil {
		return nil, err
	}
	s := &Summary{Config: meta.Config, Metrics: ComputeMetrics(recs, meta.Bootstrap, meta.Seed, meta.Permute != PermuteNone)}
	if err := WriteReports(out, s, plots); err != nil {
		return nil, err
	}
	return s, nil
}

// checkShard verifies that recs hold every item of the shard in order, each with all its
// orders once.
func checkShard(recs []Record, m Meta) error {
	i := 0
	for item := m.Begin; item < m.End; item++ {
		if i >= len(recs) || recs[i].Item != item {
			return fmt.Errorf("item %d is missing", item)
		}
		want, err := Permutations(len(recs[i].Order), m.Permute)
		if err != nil {
			return err
		}
		for p := range want {
			if i >= len(recs) || recs[i].Item != item || recs[i].Perm != p {
				return fmt.Errorf("item %d: order %d is missing", item, p)
			}
			i++
		}
	}
	if i != len(recs) {
		return fmt.Errorf("%d records beyond the shard's items [%d, %d)", len(recs)-i, m.Begin, m.End)
	}
	return nil
}
