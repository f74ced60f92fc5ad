package weights

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// The cache follows huggingface_hub's layout exactly, so a cache filled by Python
// transformers is reused here and the other way round:
//
//	<cache>/models--owner--name/blobs/<etag>                 file content (<etag>.incomplete while downloading)
//	<cache>/models--owner--name/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
//	<cache>/models--owner--name/refs/<revision>              commit hash, no trailing newline
//	<cache>/models--owner--name/.no_exist/<commit>/<file>    empty marker: the file is known to be absent

var hubCommitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// hubDefaultCacheDir resolves the cache folder in huggingface_hub's order:
// HF_HUB_CACHE, the legacy HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub,
// then ~/.cache/huggingface/hub.
func hubDefaultCacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return hubExpandHome(d)
		}
	}
	return filepath.Join(hubHome(), "hub")
}

// hubHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func hubHome() string {
	if d := os.Getenv("HF_HOME"); d != "" {
		return hubExpandHome(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(hubExpandHome(d), "huggingface")
	}
	return filepath.Join(hubExpandHome("~"), ".cache", "huggingface")
}

func hubExpandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// repoDir is the cache folder of one model repository.
func (h *Hub) repoDir(repo string) string {
	return filepath.Join(h.cacheRoot(), "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// cacheRoot is CacheDir, or the default one for a Hub built without HubFromEnv.
func (h *Hub) cacheRoot() string {
	if h.CacheDir == "" {
		return hubDefaultCacheDir()
	}
	return h.CacheDir
}

// cachedCommit maps a revision to a commit without the network: a commit hash is taken as
// is, anything else is looked up in refs/.
func (h *Hub) cachedCommit(repo, revision string) (string, bool) {
	if hubCommitRE.MatchString(revision) {
		return revision, true
	}
	b, err := os.ReadFile(filepath.Join(h.repoDir(repo), "refs", filepath.FromSlash(revision)))
	if err != nil {
		return "", false
	}
	c := strings.TrimSpace(string(b))
	return c, hubCommitRE.MatchString(c)
}

// fromCache finds filename at revision in the cache. A file recorded under .no_exist yields
// ErrNotFound; anything else missing yields an error that names the cache folder.
func (h *Hub) fromCache(repo, revision, filename, why string) (path, commit string, err error) {
	commit, ok := h.cachedCommit(repo, revision)
	if !ok {
		return "", "", fmt.Errorf("weights: %s@%s is not in the cache (%s) and %s", repo, revision, h.cacheRoot(), why)
	}
	dir := h.repoDir(repo)
	path = filepath.Join(dir, "snapshots", commit, filepath.FromSlash(filename))
	if _, err := os.Stat(path); err == nil { // Stat, not Lstat: a dangling symlink is a miss
		return path, commit, nil
	}
	if _, err := os.Stat(filepath.Join(dir, ".no_exist", commit, filepath.FromSlash(filename))); err == nil {
		return "", commit, fmt.Errorf("weights: %s@%s: %s: %w", repo, revision, filename, ErrNotFound)
	}
	return "", "", fmt.Errorf("weights: %s@%s: %s is not in the cache (%s) and %s", repo, revision, filename, h.cacheRoot(), why)
}

// writeRef records that revision points at commit, rewriting refs/<revision> only when it
// changed. Python reads the file verbatim, so no newline is written.
func (h *Hub) writeRef(repo, revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := filepath.Join(h.repoDir(repo), "refs", filepath.FromSlash(revision))
	if b, err := os.ReadFile(p); err == nil && string(b) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("weights: %s: %w", repo, err)
	}
	return fsutil.WriteBytesAtomic(p, []byte(commit))
}

// markMissing leaves huggingface_hub's .no_exist marker so that offline runs know the file is
// absent rather than not yet fetched. Failure only costs a network request later, so it is
// not reported.
func (h *Hub) markMissing(repo, commit, filename string) {
	p := filepath.Join(h.repoDir(repo), ".no_exist", commit, filepath.FromSlash(filename))
	if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
		_ = fsutil.WriteBytesAtomic(p, nil)
	}
}

// linkSnapshot points snapshots/<commit>/<filename> at blob with a relative symlink, as
// huggingface_hub does, replacing a stale or dangling link.
func (h *Hub) linkSnapshot(blob, pointer string) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	if _, err := os.Lstat(pointer); err == nil {
		if err := os.Remove(pointer); err != nil {
			return fmt.Errorf("weights: %w", err)
		}
	}
	if err := os.Symlink(rel, pointer); err != nil {
		if errors.Is(err, fs.ErrExist) { // a concurrent process linked it first
			if _, err := os.Stat(pointer); err == nil {
				return nil
			}
		}
		return fmt.Errorf("weights: %w", err)
	}
	return nil
}

// hubValidPath rejects file names and revisions that could escape the cache folder.
func hubValidPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}
