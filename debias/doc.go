// Package debias finds where a model's anchored answer (" A" whatever the content) is made
// and removes it with edits chosen on one split of a data set and measured on another.
//
// Trace aggregates the lens analyses over audit items: the anchored-bias paper's neuron
// scan on every item whose answer is not the anchor, direct attribution of logit(anchor) −
// mean logit(other options) to every head, MLP and neuron (split by whether the item is
// answered correctly), and patching between items the model answers from knowledge and
// items it falls back on. Neutralize builds candidate edits from a trace (value-vector
// rule, label-free projections, head and neuron scaling, attention recalibration, and
// run-time clamps of a direction that later layers read), searches their strengths on the
// fit split and measures before and after on the eval split.
//
// It must not change the GPT-2 computation (gpt2), define edit kinds of its own (edit
// does; debias only chooses them) nor write files other than through internal/fsutil.
// Nothing imports it but cmd/mechlens and tui.
package debias
