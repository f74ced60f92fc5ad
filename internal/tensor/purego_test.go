package tensor

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPuregoBuildHasNoAssembly builds, for amd64, a copy of the package in which every .s
// file ends in a line that is not assembly: with -tags purego the build must succeed (no
// assembly is assembled), without it the build must fail on that line (so the corruption is
// seen at all).
func TestPuregoBuildHasNoAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two builds of the package")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	gomod, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	tmp := t.TempDir()
	pkg := filepath.Join(tmp, "internal", "tensor")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(tmp, f), "")
	}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	nAsm := 0
	for _, f := range files {
		name := f.Name()
		switch {
		case strings.HasSuffix(name, ".s"):
			copyFile(t, name, filepath.Join(pkg, name), "\nTHIS LINE IS NOT ASSEMBLY\n")
			nAsm++
		case strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"):
			copyFile(t, name, filepath.Join(pkg, name), "")
		}
	}
	if nAsm == 0 {
		t.Fatal("no .s files in the package")
	}
	build := func(tags ...string) (string, error) {
		args := append([]string{"build"}, tags...)
		cmd := exec.Command(goBin, append(args, "./internal/tensor/")...)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOARCH=amd64", "GOOS=linux", "CGO_ENABLED=0", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := build("-tags", "purego"); err != nil {
		t.Fatalf("purego build with broken .s files failed: %v\n%s", err, out)
	}
	out, err := build()
	if err == nil || !strings.Contains(out, "_amd64.s:") {
		t.Fatalf("default build with broken .s files: err %v, output %q; want an assembler error", err, out)
	}
}

func copyFile(t *testing.T, from, to, suffix string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, append(b, suffix...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAssemblyIsGenerated checks the .s files are exactly what _asm generates, so nobody
// edits the output instead of the generator.
func TestAssemblyIsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the generator")
	}
	tmp := t.TempDir()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", ".", "-dir", tmp)
	cmd.Dir = "_asm"
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run _asm: %v\n%s", err, out)
	}
	for _, name := range []string{"kernel_avx2_amd64.s", "kernel_avx512_amd64.s", "kernel_neon_arm64.s", "vector_avx2_amd64.s"} {
		want, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from the generator's output: run go generate", name)
		}
	}
}
