package weights

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCacheDirFromEnv(t *testing.T) {
	tests := []struct {
		name                                string
		hubCache, legacy, hfHome, xdg, home string
		want                                string
	}{
		{name: "HF_HUB_CACHE first", hubCache: "/a", legacy: "/b", hfHome: "/c", xdg: "/d", home: "/e", want: "/a"},
		{name: "legacy HUGGINGFACE_HUB_CACHE", legacy: "/b", hfHome: "/c", xdg: "/d", home: "/e", want: "/b"},
		{name: "HF_HOME", hfHome: "/c", xdg: "/d", home: "/e", want: "/c/hub"},
		{name: "XDG_CACHE_HOME", xdg: "/d", home: "/e", want: "/d/huggingface/hub"},
		{name: "home", home: "/e", want: "/e/.cache/huggingface/hub"},
		{name: "tilde", hfHome: "~/hf", home: "/e", want: "/e/hf/hub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HF_HUB_CACHE", tt.hubCache)
			t.Setenv("HUGGINGFACE_HUB_CACHE", tt.legacy)
			t.Setenv("HF_HOME", tt.hfHome)
			t.Setenv("XDG_CACHE_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if got := HubFromEnv().CacheDir; got != tt.want {
				t.Errorf("CacheDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHubFromEnv(t *testing.T) {
	tests := []struct {
		endpoint, offline, token string
		wantEndpoint             string
		wantOffline              bool
	}{
		{"", "", "", "https://huggingface.co", false},
		{"https://mirror.example/", "1", "tok", "https://mirror.example", true},
		{"", "true", "", "https://huggingface.co", true},
		{"", "YES", "", "https://huggingface.co", true},
		{"", "0", "", "https://huggingface.co", false},
	}
	for _, tt := range tests {
		t.Setenv("HF_ENDPOINT", tt.endpoint)
		t.Setenv("HF_HUB_OFFLINE", tt.offline)
		t.Setenv("TRANSFORMERS_OFFLINE", "")
		t.Setenv("HF_TOKEN", tt.token)
		h := HubFromEnv()
		if h.endpoint() != tt.wantEndpoint || h.Offline != tt.wantOffline || h.Token != tt.token || h.Progress != os.Stderr {
			t.Errorf("env %+v: endpoint %q offline %v token %q progress %v", tt, h.endpoint(), h.Offline, h.Token, h.Progress)
		}
	}
}

// hubPythonCache lays out a cache the way huggingface_hub leaves it after downloading the
// fake repository at main.
func hubPythonCache(t *testing.T, h *Hub) {
	t.Helper()
	for name, data := range hubFakeFiles() {
		etag := hubFakeEtag(name, data)
		for _, err := range []error{
			os.MkdirAll(hubRepoPath(h, "blobs"), 0o755),
			os.MkdirAll(hubRepoPath(h, "snapshots", hubFakeCommit), 0o755),
			os.MkdirAll(hubRepoPath(h, "refs"), 0o755),
			os.WriteFile(hubRepoPath(h, "blobs", etag), data, 0o644),
			os.Symlink("../../blobs/"+etag, hubRepoPath(h, "snapshots", hubFakeCommit, name)),
			os.WriteFile(hubRepoPath(h, "refs", "main"), []byte(hubFakeCommit), 0o644),
		} {
			if err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
		}
	}
}

func TestPythonCacheReused(t *testing.T) {
	heads := []string{
		"HEAD /openai-community/gpt2/resolve/main/config.json",
		"HEAD /openai-community/gpt2/resolve/" + hubFakeCommit + "/model.safetensors",
		"HEAD /openai-community/gpt2/resolve/" + hubFakeCommit + "/vocab.json",
		"HEAD /openai-community/gpt2/resolve/" + hubFakeCommit + "/merges.txt",
	}
	tests := []struct {
		name     string
		offline  bool
		unlink   string // snapshot link removed beforehand (its blob stays)
		wantReqs []string
	}{
		{name: "offline", offline: true},
		{name: "online", wantReqs: heads},
		{name: "online, blob without link", unlink: "model.safetensors", wantReqs: heads},
		{name: "offline, blob without link", offline: true, unlink: "merges.txt"},
	}
	for _, tt := range tests {
		f := newHubFake(t)
		h := f.hub(t)
		h.Offline = tt.offline
		hubPythonCache(t, h)
		if tt.unlink != "" {
			os.Remove(hubRepoPath(h, "snapshots", hubFakeCommit, tt.unlink))
		}
		dir, err := h.Snapshot(context.Background(), "gpt2")
		if tt.offline && tt.unlink != "" {
			want := "weights: openai-community/gpt2@" + hubFakeCommit + ": merges.txt is not in the cache (" + h.CacheDir + ") and HF_HUB_OFFLINE=1"
			if err == nil || err.Error() != want {
				t.Errorf("%s: %v, want %s", tt.name, err, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if want := hubRepoPath(h, "snapshots", hubFakeCommit); dir != want {
			t.Errorf("%s: dir %s, want %s", tt.name, dir, want)
		}
		if got := f.takeLog(); !slices.Equal(got, tt.wantReqs) {
			t.Errorf("%s: requests %q, want %q", tt.name, got, tt.wantReqs)
		}
		for name, data := range hubFakeFiles() {
			p := filepath.Join(dir, name)
			link, err := os.Readlink(p)
			if err != nil || link != "../../blobs/"+hubFakeEtag(name, data) || hubReadFile(t, p) != string(data) {
				t.Errorf("%s: %s -> %q (%v)", tt.name, name, link, err)
			}
		}
	}
}

func TestOffline(t *testing.T) {
	f := newHubFake(t)
	h := f.hub(t)
	if _, err := h.Snapshot(context.Background(), "gpt2"); err != nil {
		t.Fatal(err)
	}
	f.takeLog()
	h.Offline = true
	for _, rev := range []string{"main", hubFakeCommit} {
		path, err := h.File(context.Background(), hubFakeRepo, rev, "model.safetensors")
		if err != nil || path != hubRepoPath(h, "snapshots", hubFakeCommit, "model.safetensors") {
			t.Errorf("offline @%s: %s, %v", rev, path, err)
		}
	}
	if got := f.takeLog(); len(got) != 0 {
		t.Errorf("offline requests: %q", got)
	}

	empty := &Hub{Endpoint: f.srv.URL, CacheDir: t.TempDir(), Client: f.srv.Client(), Offline: true}
	tests := []struct{ model, want string }{
		{"gpt2", "weights: openai-community/gpt2@main is not in the cache (" + empty.CacheDir + ") and HF_HUB_OFFLINE=1"},
		{"gpt2@" + hubFakeCommit, "weights: openai-community/gpt2@" + hubFakeCommit + ": config.json is not in the cache (" + empty.CacheDir + ") and HF_HUB_OFFLINE=1"},
	}
	for _, tt := range tests {
		if _, err := empty.Snapshot(context.Background(), tt.model); err == nil || err.Error() != tt.want {
			t.Errorf("empty cache, %s: %v, want %s", tt.model, err, tt.want)
		}
	}
	if got := f.takeLog(); len(got) != 0 {
		t.Errorf("offline requests: %q", got)
	}
}

// When the hub cannot be reached, cached files are served, as huggingface_hub does.
func TestUnreachableHubFallsBackToCache(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *hubFake)
	}{
		{"connection refused", func(f *hubFake) { f.srv.Close() }},
		{"server error", func(f *hubFake) { f.status = 503 }},
	}
	for _, tt := range tests {
		f := newHubFake(t)
		h := f.hub(t)
		want, err := h.File(context.Background(), hubFakeRepo, "main", "config.json")
		if err != nil {
			t.Fatal(err)
		}
		tt.break_(f)
		got, err := h.File(context.Background(), hubFakeRepo, "main", "config.json")
		if err != nil || got != want {
			t.Errorf("%s: cached file: %s, %v; want %s", tt.name, got, err, want)
		}
		if _, err := h.File(context.Background(), hubFakeRepo, "main", "vocab.json"); err == nil {
			t.Errorf("%s: uncached file served", tt.name)
		}
	}
}
