package audit

import (
	"context"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

func TestSmoke(t *testing.T) {
	m, err := gpt2.LoadDir("../testdata/tiny-gpt2")
	if err != nil {
		t.Fatal(err)
	}
	items, _ := IOI{}.Generate(20, 1)
	dir := "/tmp/smoke"
	s, err := Run(context.Background(), m, items, RunOptions{Config: Config{Model: "tiny", Permute: "cyclic", Bootstrap: 200, Seed: 1, Format: Format{BOS: true}}, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	h, rows := s.Table()
	t.Log(h)
	for _, r := range rows {
		t.Log(r)
	}
	t.Log(dir)
}
