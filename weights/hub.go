package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is wrapped by errors for files that the hub reports absent (HTTP 404).
var ErrNotFound = errors.New("not found on the hub")

// Hub downloads files from the Hugging Face hub into the shared Hugging Face cache.
// The zero value of each field means its default; HubFromEnv fills them from the
// environment the way huggingface_hub does.
type Hub struct {
	Endpoint string       // default from HF_ENDPOINT or https://huggingface.co
	Token    string       // HF_TOKEN; sent to the hub host only, never to a CDN it redirects to
	CacheDir string       // resolved cache dir (HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)
	Offline  bool         // HF_HUB_OFFLINE: serve from the cache, make no request
	Client   *http.Client // nil: http.DefaultClient
	Progress io.Writer    // nil: no progress bar; an *os.File gets one only if it is a terminal
}

const hubDefaultEndpoint = "https://huggingface.co"

var hubAliases = map[string]string{
	"gpt2":        "openai-community/gpt2",
	"gpt2-medium": "openai-community/gpt2-medium",
	"gpt2-large":  "openai-community/gpt2-large",
	"gpt2-xl":     "openai-community/gpt2-xl",
	"distilgpt2":  "distilbert/distilgpt2",
}

var (
	hubRepoPartRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,94}[A-Za-z0-9_]$|^[A-Za-z0-9_]$`)
	hubEtagRE     = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)
	hubSHA256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// HubFromEnv returns a Hub configured from HF_ENDPOINT, HF_TOKEN, the cache variables and
// HF_HUB_OFFLINE, drawing progress on stderr when it is a terminal.
func HubFromEnv() *Hub {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	return &Hub{
		Endpoint: strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"),
		Token:    strings.TrimSpace(os.Getenv("HF_TOKEN")),
		CacheDir: hubDefaultCacheDir(),
		Offline:  hubTrue(os.Getenv("HF_HUB_OFFLINE")) || hubTrue(os.Getenv("TRANSFORMERS_OFFLINE")),
		Client:   &http.Client{Transport: tr},
		Progress: os.Stderr,
	}
}

func hubTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// ParseModelName turns "gpt2", "owner/name" or "owner/name@revision" into a repository id
// and a revision (default "main").
func ParseModelName(name string) (repo, revision string, err error) {
	repo, revision, hasRev := strings.Cut(name, "@")
	if !hasRev {
		revision = "main"
	}
	if !hubValidPath(revision) || strings.ContainsAny(revision, " ~^:?*[") {
		return "", "", fmt.Errorf("weights: model %q: bad revision %q", name, revision)
	}
	if full, ok := hubAliases[repo]; ok {
		repo = full
	}
	owner, model, ok := strings.Cut(repo, "/")
	if !ok {
		return "", "", fmt.Errorf("weights: model %q: want owner/name[@revision] or one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2", name)
	}
	for _, part := range []string{owner, model} {
		if !hubRepoPartRE.MatchString(part) || strings.Contains(part, "--") || strings.Contains(part, "..") {
			return "", "", fmt.Errorf("weights: model %q: bad repository name %q", name, repo)
		}
	}
	return repo, revision, nil
}

// Snapshot fetches what a GPT-2 model needs (config.json, model.safetensors, and vocab.json
// plus merges.txt, or tokenizer.json when those are absent) and returns the
// snapshots/<commit> folder holding them. All files come from the one commit that the
// revision named when config.json was fetched.
func (h *Hub) Snapshot(ctx context.Context, name string) (dir string, err error) {
	repo, rev, err := ParseModelName(name)
	if err != nil {
		return "", err
	}
	_, commit, err := h.file(ctx, repo, rev, "config.json")
	if err != nil {
		return "", err
	}
	get := func(f string) error { _, _, err := h.file(ctx, repo, commit, f); return err }
	if err := get("model.safetensors"); err != nil {
		return "", err
	}
	errVocab, errMerges := get("vocab.json"), get("merges.txt")
	for _, err := range []error{errVocab, errMerges} {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	if errVocab != nil || errMerges != nil {
		if err := get("tokenizer.json"); errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("weights: %s: no tokenizer: neither vocab.json and merges.txt nor tokenizer.json is on the hub", name)
		} else if err != nil {
			return "", err
		}
	}
	return filepath.Join(h.repoDir(repo), "snapshots", commit), nil
}

// File returns the cached path of filename at revision (snapshots/<commit>/<filename>),
// downloading it first if needed.
func (h *Hub) File(ctx context.Context, repo, revision, filename string) (path string, err error) {
	path, _, err = h.file(ctx, repo, revision, filename)
	return path, err
}

// hubMeta is what the HEAD request tells about a file.
type hubMeta struct {
	commit, etag string
	url          string // where to GET the content: the redirect target for LFS files
	size         int64  // -1: unknown
}

// hubNetError marks failures of the network or of the hub itself, after which a cached
// copy is served, as huggingface_hub does.
type hubNetError struct{ err error }

func (e *hubNetError) Error() string { return e.err.Error() }
func (e *hubNetError) Unwrap() error { return e.err }

func (h *Hub) file(ctx context.Context, repo, revision, filename string) (path, commit string, err error) {
	if !hubValidPath(filename) {
		return "", "", fmt.Errorf("weights: %s: bad file name %q", repo, filename)
	}
	if !hubValidPath(revision) {
		return "", "", fmt.Errorf("weights: %s: bad revision %q", repo, revision)
	}
	if h.Offline {
		return h.fromCache(repo, revision, filename, "HF_HUB_OFFLINE=1")
	}
	what := fmt.Sprintf("weights: %s@%s: %s", repo, revision, filename)
	m, err := h.head(ctx, repo, revision, filename, what)
	if err != nil {
		var ne *hubNetError
		if errors.As(err, &ne) && ctx.Err() == nil {
			if path, commit, cerr := h.fromCache(repo, revision, filename, ""); cerr == nil {
				return path, commit, nil
			}
		}
		return "", "", err
	}
	if err := h.writeRef(repo, revision, m.commit); err != nil {
		return "", "", err
	}
	dir := h.repoDir(repo)
	pointer := filepath.Join(dir, "snapshots", m.commit, filepath.FromSlash(filename))
	if _, err := os.Stat(pointer); err == nil {
		return pointer, m.commit, nil
	}
	blob := filepath.Join(dir, "blobs", m.etag)
	if _, err := os.Stat(blob); err != nil {
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			return "", "", fmt.Errorf("%s: %w", what, err)
		}
		if err := h.download(ctx, m, blob, filename, what); err != nil {
			return "", "", err
		}
	}
	if err := h.linkSnapshot(blob, pointer); err != nil {
		return "", "", err
	}
	return pointer, m.commit, nil
}

// head asks the resolve endpoint about a file without following the LFS redirect, whose
// headers carry the commit, the content's sha256 and its size.
func (h *Hub) head(ctx context.Context, repo, revision, filename, what string) (hubMeta, error) {
	esc := strings.Split(filename, "/")
	for i, s := range esc {
		esc[i] = url.PathEscape(s)
	}
	u := h.endpoint() + "/" + repo + "/resolve/" + url.PathEscape(revision) + "/" + strings.Join(esc, "/")
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return hubMeta{}, fmt.Errorf("%s: %w", what, err)
		}
		h.setHeaders(req)
		resp, err := h.client(false).Do(req)
		if err != nil {
			return hubMeta{}, &hubNetError{fmt.Errorf("%s: %w", what, err)}
		}
		resp.Body.Close()
		hd := resp.Header
		m := hubMeta{commit: hd.Get("X-Repo-Commit"), url: u, size: -1}
		if loc := hd.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			next, err := req.URL.Parse(loc) // relative locations are common
			if err != nil {
				return hubMeta{}, fmt.Errorf("%s: bad redirect %q", what, loc)
			}
			if m.commit == "" && hops < 5 { // a renamed repository: ask its new address
				u = next.String()
				continue
			}
			m.url = next.String()
		}
		switch code := hd.Get("X-Error-Code"); {
		case resp.StatusCode == http.StatusNotFound && code == "RepositoryNotFound":
			return hubMeta{}, fmt.Errorf("weights: %s: repository not found on the hub (set HF_TOKEN if it is private)", repo)
		case resp.StatusCode == http.StatusNotFound && code == "RevisionNotFound":
			return hubMeta{}, fmt.Errorf("weights: %s: revision %q not found on the hub", repo, revision)
		case resp.StatusCode == http.StatusNotFound:
			if hubCommitRE.MatchString(m.commit) {
				_ = h.writeRef(repo, revision, m.commit)
				h.markMissing(repo, m.commit, filename)
			}
			return hubMeta{}, fmt.Errorf("%s: %w", what, ErrNotFound)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return hubMeta{}, hubDenied(what, resp.Status)
		case resp.StatusCode >= 500:
			return hubMeta{}, &hubNetError{fmt.Errorf("%s: hub answered %s", what, resp.Status)}
		case resp.StatusCode/100 != 2 && resp.StatusCode/100 != 3:
			return hubMeta{}, fmt.Errorf("%s: hub answered %s", what, resp.Status)
		}
		m.etag = hd.Get("X-Linked-Etag")
		if m.etag == "" {
			m.etag = hd.Get("ETag")
		}
		m.etag = strings.Trim(strings.TrimPrefix(m.etag, "W/"), `"`)
		size := hd.Get("X-Linked-Size")
		if size == "" && resp.StatusCode/100 == 2 {
			size = hd.Get("Content-Length")
		}
		if n, err := strconv.ParseInt(size, 10, 64); err == nil && n >= 0 {
			m.size = n
		}
		if !hubCommitRE.MatchString(m.commit) || !hubEtagRE.MatchString(m.etag) {
			return hubMeta{}, fmt.Errorf("%s: hub answer lacks a valid X-Repo-Commit (%q) or ETag (%q)", what, m.commit, m.etag)
		}
		return m, nil
	}
}

func hubDenied(what, status string) error {
	return fmt.Errorf("%s: access denied (%s): the repository is private, gated or missing; set HF_TOKEN to a token that can read it", what, status)
}

// download fills blob, resuming from blob.incomplete as huggingface_hub does, and checks the
// size and, for LFS files (whose etag is the sha256), the content hash.
func (h *Hub) download(ctx context.Context, m hubMeta, blob, filename, what string) error {
	tmp := blob + ".incomplete"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	lfs := hubSHA256RE.MatchString(m.etag)
	sum := sha256.New()
	offset, err := f.Seek(0, io.SeekEnd)
	if err == nil && m.size >= 0 && offset > m.size {
		offset, err = 0, f.Truncate(0)
	}
	if err == nil && offset > 0 && lfs {
		_, err = io.Copy(sum, io.NewSectionReader(f, 0, offset))
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", what, tmp, err)
	}
	if m.size < 0 || offset < m.size {
		if offset, err = h.get(ctx, f, sum, m, offset, filename, what); err != nil {
			return err
		}
	}
	if m.size >= 0 && offset != m.size {
		os.Remove(tmp)
		return fmt.Errorf("%s: downloaded %d bytes, want %d", what, offset, m.size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); lfs && got != m.etag {
		os.Remove(tmp)
		return fmt.Errorf("%s: sha256 %s, want %s", what, got, m.etag)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %s: %w", what, tmp, err)
	}
	// The blob is built by appending to .incomplete (so that it can resume) and published by
	// rename, the protocol huggingface_hub shares; fsutil.WriteFileAtomic cannot resume.
	if err := os.Rename(tmp, blob); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// get appends the bytes from offset on to f and sum, and returns the new length of f. A
// partial download stays in f for the next call to resume.
func (h *Hub) get(ctx context.Context, f *os.File, sum hash.Hash, m hubMeta, offset int64, filename, what string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return offset, fmt.Errorf("%s: %w", what, err)
	}
	h.setHeaders(req)
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := h.client(true).Do(req)
	if err != nil {
		return offset, fmt.Errorf("%s: download: %w", what, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
			return offset, fmt.Errorf("%s: asked for bytes %d-, got Content-Range %q", what, offset, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK: // the server ignored Range: start over
		if offset > 0 {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return offset, fmt.Errorf("%s: %w", what, err)
			}
			if err := f.Truncate(0); err != nil {
				return offset, fmt.Errorf("%s: %w", what, err)
			}
			offset = 0
			sum.Reset()
		}
	case http.StatusUnauthorized, http.StatusForbidden:
		return offset, hubDenied(what, resp.Status)
	default:
		return offset, fmt.Errorf("%s: download: server answered %s", what, resp.Status)
	}
	total := m.size
	if total < 0 && resp.StatusCode == http.StatusOK {
		total = resp.ContentLength
	}
	w := []io.Writer{f, sum}
	bar := newHubProgress(h.Progress, filename, total, offset, nil)
	if bar != nil {
		w = append(w, bar)
	}
	n, err := io.Copy(io.MultiWriter(w...), resp.Body)
	bar.finish()
	offset += n
	if err != nil {
		return offset, fmt.Errorf("%s: download cut after %d of %d bytes (run again to resume): %w", what, offset, total, err)
	}
	return offset, nil
}

func (h *Hub) endpoint() string {
	if h.Endpoint == "" {
		return hubDefaultEndpoint
	}
	return strings.TrimRight(h.Endpoint, "/")
}

func (h *Hub) hubHost() string {
	u, err := url.Parse(h.endpoint())
	if err != nil {
		return ""
	}
	return u.Host
}

// setHeaders asks for the exact bytes (no transparent gzip, so sizes and hashes hold) and
// adds the token only for the hub's own host.
func (h *Hub) setHeaders(req *http.Request) {
	req.Header.Set("User-Agent", "mechlens")
	req.Header.Set("Accept-Encoding", "identity")
	if h.Token != "" && req.URL.Host == h.hubHost() {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
}

// client returns a copy of the configured client that either stops at the first redirect
// (HEAD) or follows redirects but drops the token on hosts other than the hub's. net/http
// itself would forward it to another port of the same host name.
func (h *Hub) client(follow bool) *http.Client {
	c := http.DefaultClient
	if h.Client != nil {
		c = h.Client
	}
	cc := *c
	host := h.hubHost()
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !follow {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != host {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &cc
}
