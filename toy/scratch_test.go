package toy

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
)

func TestScratch(t *testing.T) {
	steps, _ := strconv.Atoi(os.Getenv("TOY_STEPS"))
	warm, _ := strconv.Atoi(os.Getenv("TOY_WARM"))
	seed, _ := strconv.Atoi(os.Getenv("TOY_SEED"))
	out := os.Getenv("TOY_OUT")
	if steps == 0 { t.Skip() }
	w := NewWorld()
	tok, err := TrainTokenizer(w)
	if err != nil { t.Fatal(err) }
	rc := DefaultRecipe()
	rc.Steps, rc.Warmup, rc.Seed = steps, warm, uint64(seed)
	if e, _ := strconv.Atoi(os.Getenv("TOY_EVAL")); e > 0 { rc.EvalEvery = e }
	m, err := Train(context.Background(), rc, w, tok, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
	if err != nil { t.Fatal(err) }
	rep, err := Evaluate(m, HeldOut(w, 4))
	if err != nil { t.Fatal(err) }
	fmt.Print(rep.Table())
	fmt.Println(rep.Failures())
	if out != "" {
		if err := WriteModel(out, m); err != nil { t.Fatal(err) }
	}
}
