// Package audit measures positional ("anchored") bias of a model on multiple-choice
// questions: it reads MCQ data sets (generic JSONL, ARC/CommonsenseQA, MMLU, the anchored-bias
// paper's {sentence, label} files) or generates them (the paper's IOI items, and any
// Generator another package registers), formats prompts, scores them in batches through the
// forward pass (permutations of one item continue from a shared KV cache of their common
// prefix), computes the metrics with seeded bootstrap confidence intervals, and writes
// per-item JSONL, a summary JSON, CSV, a Markdown report and PNG plots. It owns resuming an
// interrupted run from its journal, sharding a run and merging the shards.
//
// It must not load or download models (the caller hands it a *gpt2.Model), must not import
// the packages that register generators (they import audit), and must not write a user file
// other than through internal/fsutil's atomic writes; the only file it appends to is its
// own journal (*.jsonl.part), which the final atomic write replaces.
//
// ExampleRun (example_test.go) audits the embedded model from Go.
package audit
