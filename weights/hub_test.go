package weights

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	hubFakeRepo   = "openai-community/gpt2"
	hubFakeCommit = "0123456789abcdef0123456789abcdef01234567"
)

// hubFake imitates the hub's resolve endpoint: small files are answered directly with their
// git blob sha1 as a weak ETag, *.safetensors files redirect (302, relative Location unless
// cdn is set) to /cdn/<sha256> with X-Linked-Etag and X-Linked-Size, as the real hub does.
type hubFake struct {
	files map[string][]byte
	srv   *httptest.Server

	mu        sync.Mutex
	log       []string // "METHOD path[ Range]"
	auth      []string // Authorization header of each request
	cdn       string   // base URL of LFS redirects; "" means a relative /cdn/ location
	bounce    string   // if set, /cdn/ requests are redirected again to this base URL
	cutAt     int      // > 0: the next content GET hangs up after this many bytes
	noRange   bool     // answer 200 with the whole file to Range requests
	corrupt   bool     // flip the last byte of served content
	extraSize int      // added to X-Linked-Size
	status    int      // != 0: resolve requests get this status
}

func hubFakeFiles() map[string][]byte {
	model := make([]byte, 10000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range model {
		model[i] = byte(r.Uint32())
	}
	return map[string][]byte{
		"config.json":       []byte(`{"n_layer": 2}`),
		"model.safetensors": model,
		"vocab.json":        []byte(`{"a": 0}`),
		"merges.txt":        []byte("#version: 0.2\n"),
	}
}

func newHubFake(t *testing.T) *hubFake {
	f := &hubFake{files: hubFakeFiles()}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// hubFakeEtag is the etag the hub gives a file: sha256 for LFS files, git blob sha1 otherwise.
func hubFakeEtag(name string, data []byte) string {
	if strings.HasSuffix(name, ".safetensors") {
		s := sha256.Sum256(data)
		return hex.EncodeToString(s[:])
	}
	s := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(data))), data...))
	return hex.EncodeToString(s[:])
}

func (f *hubFake) takeLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log, f.auth = nil, nil
	return l
}

func (f *hubFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	entry := r.Method + " " + r.URL.Path
	if rg := r.Header.Get("Range"); rg != "" {
		entry += " " + rg
	}
	f.log = append(f.log, entry)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()

	if sum, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		if f.bounce != "" {
			http.Redirect(w, r, f.bounce+r.URL.Path, http.StatusFound)
			return
		}
		for name, data := range f.files {
			if hubFakeEtag(name, data) == sum {
				f.serveContent(w, r, data)
				return
			}
		}
		http.NotFound(w, r)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/old-name/gpt2/"); ok { // a renamed repository
		http.Redirect(w, r, "/"+hubFakeRepo+"/"+rest, http.StatusTemporaryRedirect)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" || parts[0]+"/"+parts[1] != hubFakeRepo {
		w.Header().Set("X-Error-Code", "RepositoryNotFound")
		http.NotFound(w, r)
		return
	}
	if parts[3] != "main" && parts[3] != hubFakeCommit {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		http.NotFound(w, r)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	w.Header().Set("X-Repo-Commit", hubFakeCommit)
	name := parts[4]
	data, ok := f.files[name]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.NotFound(w, r)
		return
	}
	etag := hubFakeEtag(name, data)
	if strings.HasSuffix(name, ".safetensors") {
		w.Header().Set("ETag", `"pointer-oid"`)
		w.Header().Set("X-Linked-Etag", `"`+etag+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(data)+f.extraSize))
		w.Header().Set("Location", f.cdn+"/cdn/"+etag)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `W/"`+etag+`"`)
	f.serveContent(w, r, data)
}

func (f *hubFake) serveContent(w http.ResponseWriter, r *http.Request, data []byte) {
	f.mu.Lock()
	cut, noRange, corrupt := f.cutAt, f.noRange, f.corrupt
	if r.Method == http.MethodGet {
		f.cutAt = 0
	}
	f.mu.Unlock()
	body, status := data, http.StatusOK
	if rg, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok && !noRange {
		start, err := strconv.Atoi(strings.TrimSuffix(rg, "-"))
		if err != nil || start >= len(data) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		body, status = data[start:], http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
	}
	if corrupt {
		body = slices.Clone(body)
		body[len(body)-1] ^= 1
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodGet {
		return
	}
	if cut > 0 && cut < len(body) {
		w.Write(body[:cut])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Write(body)
}

func (f *hubFake) hub(t *testing.T) *Hub {
	return &Hub{Endpoint: f.srv.URL, CacheDir: t.TempDir(), Client: f.srv.Client()}
}

func hubRepoPath(h *Hub, parts ...string) string {
	return filepath.Join(append([]string{h.CacheDir, "models--openai-community--gpt2"}, parts...)...)
}

func hubReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseModelName(t *testing.T) {
	tests := []struct {
		name, repo, rev, err string
	}{
		{name: "gpt2", repo: "openai-community/gpt2", rev: "main"},
		{name: "gpt2-medium", repo: "openai-community/gpt2-medium", rev: "main"},
		{name: "gpt2-large", repo: "openai-community/gpt2-large", rev: "main"},
		{name: "gpt2-xl", repo: "openai-community/gpt2-xl", rev: "main"},
		{name: "distilgpt2", repo: "distilbert/distilgpt2", rev: "main"},
		{name: "gpt2@" + hubFakeCommit, repo: "openai-community/gpt2", rev: hubFakeCommit},
		{name: "EleutherAI/gpt-neo_1.3B@v1.0", repo: "EleutherAI/gpt-neo_1.3B", rev: "v1.0"},
		{name: "o/n@refs/pr/1", repo: "o/n", rev: "refs/pr/1"},
		{name: "bert-base", err: `weights: model "bert-base": want owner/name[@revision] or one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2`},
		{name: "", err: `weights: model "": want owner/name[@revision] or one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2`},
		{name: "a/b/c", err: `weights: model "a/b/c": bad repository name "a/b/c"`},
		{name: "a b/c", err: `weights: model "a b/c": bad repository name "a b/c"`},
		{name: "/c", err: `weights: model "/c": bad repository name "/c"`},
		{name: "a--b/c", err: `weights: model "a--b/c": bad repository name "a--b/c"`},
		{name: "a/c..d", err: `weights: model "a/c..d": bad repository name "a/c..d"`},
		{name: "a/-c", err: `weights: model "a/-c": bad repository name "a/-c"`},
		{name: "a/c@", err: `weights: model "a/c@": bad revision ""`},
		{name: "a/c@../x", err: `weights: model "a/c@../x": bad revision "../x"`},
		{name: "a/c@x y", err: `weights: model "a/c@x y": bad revision "x y"`},
	}
	for _, tt := range tests {
		repo, rev, err := ParseModelName(tt.name)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseModelName(%q) error = %v, want %s", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || repo != tt.repo || rev != tt.rev {
			t.Errorf("ParseModelName(%q) = %q, %q, %v; want %q, %q", tt.name, repo, rev, err, tt.repo, tt.rev)
		}
	}
}

func TestFileDownloadLayout(t *testing.T) {
	f := newHubFake(t)
	h := f.hub(t)
	files := hubFakeFiles()
	modelSum := hubFakeEtag("model.safetensors", files["model.safetensors"])
	tests := []struct {
		file    string
		wantLog []string
	}{
		{"model.safetensors", []string{
			"HEAD /openai-community/gpt2/resolve/main/model.safetensors",
			"GET /cdn/" + modelSum,
		}},
		{"config.json", []string{
			"HEAD /openai-community/gpt2/resolve/main/config.json",
			"GET /openai-community/gpt2/resolve/main/config.json",
		}},
	}
	for _, tt := range tests {
		path, err := h.File(context.Background(), hubFakeRepo, "main", tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if want := hubRepoPath(h, "snapshots", hubFakeCommit, tt.file); path != want {
			t.Errorf("%s: path %s, want %s", tt.file, path, want)
		}
		etag := hubFakeEtag(tt.file, files[tt.file])
		if link, err := os.Readlink(path); err != nil || link != "../../blobs/"+etag {
			t.Errorf("%s: link %q (%v), want ../../blobs/%s", tt.file, link, err, etag)
		}
		if got := hubReadFile(t, path); got != string(files[tt.file]) {
			t.Errorf("%s: content differs", tt.file)
		}
		if got := f.takeLog(); !slices.Equal(got, tt.wantLog) {
			t.Errorf("%s: requests %q, want %q", tt.file, got, tt.wantLog)
		}
	}
	if got := hubReadFile(t, hubRepoPath(h, "refs", "main")); got != hubFakeCommit {
		t.Errorf("refs/main = %q, want %q", got, hubFakeCommit)
	}
	if left, _ := filepath.Glob(hubRepoPath(h, "blobs", "*.incomplete")); len(left) != 0 {
		t.Errorf("left over: %v", left)
	}
}

// A renamed repository answers HEAD with a relative redirect that carries no X-Repo-Commit;
// it is followed, and the files are cached under the name asked for, as huggingface_hub does.
func TestRenamedRepo(t *testing.T) {
	f := newHubFake(t)
	h := f.hub(t)
	path, err := h.File(context.Background(), "old-name/gpt2", "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	model := f.files["model.safetensors"]
	if want := filepath.Join(h.CacheDir, "models--old-name--gpt2", "snapshots", hubFakeCommit, "model.safetensors"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	if hubReadFile(t, path) != string(model) {
		t.Error("content differs")
	}
	want := []string{
		"HEAD /old-name/gpt2/resolve/main/model.safetensors",
		"HEAD /openai-community/gpt2/resolve/main/model.safetensors",
		"GET /cdn/" + hubFakeEtag("model.safetensors", model),
	}
	if got := f.takeLog(); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func TestFileResume(t *testing.T) {
	tests := []struct {
		name     string
		noRange  bool // the server answers 200 to the Range request: start over
		wantLast string
	}{
		{"range honoured", false, "GET /cdn/%s bytes=4000-"},
		{"range ignored", true, "GET /cdn/%s bytes=4000-"},
	}
	for _, tt := range tests {
		f := newHubFake(t)
		h := f.hub(t)
		model := f.files["model.safetensors"]
		sum := hubFakeEtag("model.safetensors", model)
		f.cutAt = 4000
		_, err := h.File(context.Background(), hubFakeRepo, "main", "model.safetensors")
		wantErr := "weights: openai-community/gpt2@main: model.safetensors: download cut after 4000 of 10000 bytes (run again to resume): unexpected EOF"
		if err == nil || err.Error() != wantErr {
			t.Fatalf("%s: first call: %v, want %s", tt.name, err, wantErr)
		}
		partial := hubRepoPath(h, "blobs", sum+".incomplete")
		if fi, err := os.Stat(partial); err != nil || fi.Size() != 4000 {
			t.Fatalf("%s: partial blob: %v %v", tt.name, fi, err)
		}
		f.takeLog()
		f.noRange = tt.noRange
		path, err := h.File(context.Background(), hubFakeRepo, "main", "model.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"HEAD /openai-community/gpt2/resolve/main/model.safetensors", fmt.Sprintf(tt.wantLast, sum)}
		if got := f.takeLog(); !slices.Equal(got, want) {
			t.Errorf("%s: requests %q, want %q", tt.name, got, want)
		}
		if hubReadFile(t, path) != string(model) {
			t.Errorf("%s: resumed blob differs", tt.name)
		}
		if _, err := os.Stat(partial); !os.IsNotExist(err) {
			t.Errorf("%s: .incomplete still there: %v", tt.name, err)
		}
	}
}

func TestFileRejectsBadContent(t *testing.T) {
	model := hubFakeFiles()["model.safetensors"]
	sum := hubFakeEtag("model.safetensors", model)
	bad := slices.Clone(model)
	bad[len(bad)-1] ^= 1
	badSum := sha256.Sum256(bad)
	tests := []struct {
		name    string
		setup   func(f *hubFake)
		wantErr string
	}{
		{"corrupt content", func(f *hubFake) { f.corrupt = true },
			"weights: openai-community/gpt2@main: model.safetensors: sha256 " + hex.EncodeToString(badSum[:]) + ", want " + sum},
		{"short content", func(f *hubFake) { f.extraSize = 1 },
			"weights: openai-community/gpt2@main: model.safetensors: downloaded 10000 bytes, want 10001"},
	}
	for _, tt := range tests {
		f := newHubFake(t)
		h := f.hub(t)
		tt.setup(f)
		_, err := h.File(context.Background(), hubFakeRepo, "main", "model.safetensors")
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.wantErr)
		}
		left, _ := filepath.Glob(hubRepoPath(h, "blobs", "*"))
		links, _ := filepath.Glob(hubRepoPath(h, "snapshots", "*", "*"))
		if len(left)+len(links) != 0 {
			t.Errorf("%s: left in cache: %v %v", tt.name, left, links)
		}
	}
}

func TestFileHTTPErrors(t *testing.T) {
	tests := []struct {
		name, repo, rev, file string
		status                int
		notFound              bool
		wantErr               string
	}{
		{name: "missing file", repo: hubFakeRepo, rev: "main", file: "tokenizer.json", notFound: true,
			wantErr: "weights: openai-community/gpt2@main: tokenizer.json: not found on the hub"},
		{name: "missing repo", repo: "nobody/none", rev: "main", file: "config.json",
			wantErr: "weights: nobody/none: repository not found on the hub (set HF_TOKEN if it is private)"},
		{name: "missing revision", repo: hubFakeRepo, rev: "v9", file: "config.json",
			wantErr: `weights: openai-community/gpt2: revision "v9" not found on the hub`},
		{name: "unauthorized", repo: hubFakeRepo, rev: "main", file: "config.json", status: 401,
			wantErr: "weights: openai-community/gpt2@main: config.json: access denied (401 Unauthorized): the repository is private, gated or missing; set HF_TOKEN to a token that can read it"},
		{name: "forbidden", repo: hubFakeRepo, rev: "main", file: "config.json", status: 403,
			wantErr: "weights: openai-community/gpt2@main: config.json: access denied (403 Forbidden): the repository is private, gated or missing; set HF_TOKEN to a token that can read it"},
		{name: "bad file name", repo: hubFakeRepo, rev: "main", file: "../x",
			wantErr: `weights: openai-community/gpt2: bad file name "../x"`},
	}
	for _, tt := range tests {
		f := newHubFake(t)
		f.status = tt.status
		h := f.hub(t)
		_, err := h.File(context.Background(), tt.repo, tt.rev, tt.file)
		if err == nil || err.Error() != tt.wantErr || errors.Is(err, ErrNotFound) != tt.notFound {
			t.Errorf("%s: %v, want %s (ErrNotFound %v)", tt.name, err, tt.wantErr, tt.notFound)
		}
	}
}

// A 404 leaves huggingface_hub's .no_exist marker, so that offline runs know the answer.
func TestFileNotFoundRemembered(t *testing.T) {
	f := newHubFake(t)
	h := f.hub(t)
	if _, err := h.File(context.Background(), hubFakeRepo, "main", "tokenizer.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("online: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(hubRepoPath(h, ".no_exist", hubFakeCommit, "tokenizer.json")); err != nil {
		t.Errorf("no .no_exist marker: %v", err)
	}
	f.takeLog()
	h.Offline = true
	_, err := h.File(context.Background(), hubFakeRepo, "main", "tokenizer.json")
	if want := "weights: openai-community/gpt2@main: tokenizer.json: not found on the hub"; err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("offline: %v, want %s", err, want)
	}
	if got := f.takeLog(); len(got) != 0 {
		t.Errorf("offline requests: %q", got)
	}
}

func TestTokenOnlyToHub(t *testing.T) {
	tests := []struct {
		name   string
		direct bool // HEAD redirects straight to the CDN host, else via the hub's own /cdn/
	}{
		{"absolute redirect", true},
		{"second redirect", false},
	}
	for _, tt := range tests {
		cdn := newHubFake(t)
		f := newHubFake(t)
		if tt.direct {
			f.cdn = cdn.srv.URL
		} else {
			f.bounce = cdn.srv.URL
		}
		h := f.hub(t)
		h.Token = "secret"
		for _, file := range []string{"config.json", "model.safetensors"} {
			if _, err := h.File(context.Background(), hubFakeRepo, "main", file); err != nil {
				t.Fatal(err)
			}
		}
		for i, a := range f.auth {
			if a != "Bearer secret" {
				t.Errorf("%s: hub request %q sent Authorization %q", tt.name, f.log[i], a)
			}
		}
		if len(cdn.log) != 1 || cdn.auth[0] != "" {
			t.Errorf("%s: CDN requests %q, Authorization %q; want one without a token", tt.name, cdn.log, cdn.auth)
		}
	}
}

func TestSnapshot(t *testing.T) {
	tok := []byte(`{"model": {}}`)
	tests := []struct {
		name    string
		drop    []string
		add     map[string][]byte
		want    []string // files in the snapshot
		wantErr string
	}{
		{name: "vocab and merges", want: []string{"config.json", "merges.txt", "model.safetensors", "vocab.json"}},
		{name: "tokenizer.json", drop: []string{"vocab.json", "merges.txt"}, add: map[string][]byte{"tokenizer.json": tok},
			want: []string{"config.json", "model.safetensors", "tokenizer.json"}},
		{name: "no tokenizer", drop: []string{"merges.txt"},
			wantErr: "weights: gpt2: no tokenizer: neither vocab.json and merges.txt nor tokenizer.json is on the hub"},
		{name: "no weights", drop: []string{"model.safetensors"},
			wantErr: "weights: openai-community/gpt2@" + hubFakeCommit + ": model.safetensors: not found on the hub"},
	}
	for _, tt := range tests {
		f := newHubFake(t)
		for _, d := range tt.drop {
			delete(f.files, d)
		}
		for k, v := range tt.add {
			f.files[k] = v
		}
		h := f.hub(t)
		dir, err := h.Snapshot(context.Background(), "gpt2")
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if want := hubRepoPath(h, "snapshots", hubFakeCommit); dir != want {
			t.Errorf("%s: dir %s, want %s", tt.name, dir, want)
		}
		var got []string
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			got = append(got, e.Name())
			if hubReadFile(t, filepath.Join(dir, e.Name())) != string(f.files[e.Name()]) {
				t.Errorf("%s: %s differs", tt.name, e.Name())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: files %q, want %q", tt.name, got, tt.want)
		}
		// Only config.json (HEAD and GET) goes by the branch; the rest is pinned to its commit.
		for _, l := range f.takeLog()[2:] {
			if strings.Contains(l, "/resolve/main/") {
				t.Errorf("%s: request %q not pinned to the commit", tt.name, l)
			}
		}
	}
}

func TestProgress(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	now := t0
	var buf bytes.Buffer
	p := newHubProgress(&buf, "model.safetensors", 100*mib, 10*mib, func() time.Time { return now })
	steps := []struct {
		at   time.Duration
		n    int
		want string // output added by this step
	}{
		{200 * time.Millisecond, 10 * mib, ""}, // too early: short downloads stay silent
		{time.Second, 10 * mib, fmt.Sprintf("\r%-78s", "model.safetensors   30.0%  30.0 MiB / 100.0 MiB  20.0 MiB/s  ETA 0:03")},
		{1050 * time.Millisecond, 1 * mib, ""}, // within 100ms of the last redraw
		{2 * time.Second, 0, fmt.Sprintf("\r%-78s\n", "model.safetensors   31.0%  31.0 MiB / 100.0 MiB  10.5 MiB/s  ETA 0:06")},
	}
	for i, s := range steps {
		now = t0.Add(s.at)
		before := buf.Len()
		if i == len(steps)-1 {
			p.finish()
		} else {
			p.Write(make([]byte, s.n))
		}
		if got := buf.String()[before:]; got != s.want {
			t.Errorf("step %d: wrote %q, want %q", i, got, s.want)
		}
	}

	notTTY, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer notTTY.Close()
	if p := newHubProgress(notTTY, "x", 1, 0, nil); p != nil {
		t.Error("progress bar drawn into a regular file")
	}
	if p := newHubProgress(nil, "x", 1, 0, nil); p != nil {
		t.Error("progress bar without a writer")
	}
}
