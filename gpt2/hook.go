package gpt2

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Hook names are TransformerLens's, verbatim: the same strings key the cache, the CLI's
// --hooks globs, the JSON output and the tensors that trace writes. Shapes are per sequence
// (batch dimension dropped).
const (
	HookEmbed          = "hook_embed"               // [T, D]
	HookPosEmbed       = "hook_pos_embed"           // [T, D]
	HookLnFinalScale   = "ln_final.hook_scale"      // [T, 1]
	HookLnFinalNormed  = "ln_final.hook_normalized" // [T, D]
	HookLogits         = "logits"                   // [T, V] (not a TransformerLens hook: read-only here)
	hookPrefixTemplate = "blocks.%d."
	nameResidPre       = "hook_resid_pre"        // [T, D]
	nameLn1Scale       = "ln1.hook_scale"        // [T, 1]
	nameLn1Normalized  = "ln1.hook_normalized"   // [T, D]
	nameQ              = "attn.hook_q"           // [T, H, Dh]
	nameK              = "attn.hook_k"           // [T, H, Dh]
	nameV              = "attn.hook_v"           // [T, H, Dh]
	nameAttnScores     = "attn.hook_attn_scores" // [H, T, Tk], -Inf where masked
	namePattern        = "attn.hook_pattern"     // [H, T, Tk]
	nameZ              = "attn.hook_z"           // [T, H, Dh]
	nameResult         = "attn.hook_result"      // [T, H, D], computed only when asked for
	nameAttnOut        = "hook_attn_out"         // [T, D]
	nameResidMid       = "hook_resid_mid"        // [T, D]
	nameLn2Scale       = "ln2.hook_scale"        // [T, 1]
	nameLn2Normalized  = "ln2.hook_normalized"   // [T, D]
	nameMLPPre         = "mlp.hook_pre"          // [T, M]
	nameMLPPost        = "mlp.hook_post"         // [T, M]
	nameMLPOut         = "hook_mlp_out"          // [T, D]
	nameResidPost      = "hook_resid_post"       // [T, D]
)

// blockHookNames are the suffixes of a block's hook points, in forward order.
var blockHookNames = []string{nameResidPre, nameLn1Scale, nameLn1Normalized, nameQ, nameK, nameV,
	nameAttnScores, namePattern, nameZ, nameResult, nameAttnOut, nameResidMid, nameLn2Scale,
	nameLn2Normalized, nameMLPPre, nameMLPPost, nameMLPOut, nameResidPost}

// BlockHook returns the full name of a block's hook point: BlockHook(5, "attn.hook_pattern")
// is "blocks.5.attn.hook_pattern".
func BlockHook(layer int, suffix string) string {
	return fmt.Sprintf(hookPrefixTemplate, layer) + suffix
}

// Shorthands for the names analyses use most.
func ResidPre(l int) string   { return BlockHook(l, nameResidPre) }
func ResidMid(l int) string   { return BlockHook(l, nameResidMid) }
func ResidPost(l int) string  { return BlockHook(l, nameResidPost) }
func AttnOut(l int) string    { return BlockHook(l, nameAttnOut) }
func MLPOut(l int) string     { return BlockHook(l, nameMLPOut) }
func MLPPre(l int) string     { return BlockHook(l, nameMLPPre) }
func MLPPost(l int) string    { return BlockHook(l, nameMLPPost) }
func Pattern(l int) string    { return BlockHook(l, namePattern) }
func Scores(l int) string     { return BlockHook(l, nameAttnScores) }
func Z(l int) string          { return BlockHook(l, nameZ) }
func HeadResult(l int) string { return BlockHook(l, nameResult) }
func Q(l int) string          { return BlockHook(l, nameQ) }
func K(l int) string          { return BlockHook(l, nameK) }
func V(l int) string          { return BlockHook(l, nameV) }

// HookNames returns every hook point of a model of this shape in forward order, then
// "logits". It is pinned by a golden test, as TransformerLens pins its list.
func HookNames(c Config) []string {
	names := []string{HookEmbed, HookPosEmbed}
	for l := 0; l < c.NLayers; l++ {
		for _, s := range blockHookNames {
			names = append(names, BlockHook(l, s))
		}
	}
	return append(names, HookLnFinalScale, HookLnFinalNormed, HookLogits)
}

// MatchHooks expands glob patterns (path.Match syntax, e.g. "blocks.*.attn.hook_pattern")
// and exact names over HookNames(c). A pattern that matches nothing is an error that says so
// and suggests names; TransformerLens silently hooks nothing.
func MatchHooks(c Config, patterns ...string) ([]string, error) {
	all := HookNames(c)
	keep := map[string]bool{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("hook pattern %q: %v", p, err)
		}
		n := 0
		for _, name := range all {
			if ok, _ := path.Match(p, name); ok {
				keep[name] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("hook pattern %q matches no hook point of this model (%d layers); examples: %s",
				p, c.NLayers, strings.Join(suggest(all, p), ", "))
		}
	}
	var out []string
	for _, name := range all {
		if keep[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// suggest returns up to three hook names sharing the pattern's last component.
func suggest(all []string, pattern string) []string {
	last := pattern[strings.LastIndex(pattern, ".")+1:]
	var out []string
	for _, n := range all {
		if strings.HasSuffix(n, last) && len(out) < 3 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = slices.Clone(all[:min(3, len(all))])
	}
	return out
}
