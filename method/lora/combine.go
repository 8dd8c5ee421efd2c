package lora

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/safetensors"
)

// Combination methods of Combine (PEFT's add_weighted_adapter types).
const (
	CombineLinear = "linear"
	CombineCat    = "cat"
)

// Combined is a new adapter built by Combine, ready to Save.
type Combined struct {
	Cfg           Config
	TargetModules any
	BaseModel     string
	Info          Info
	Tensors       []*safetensors.Tensor
}

// loraModules returns the modules with LoRA matrices in an adapter file.
func (l *Loaded) loraModules() []string {
	var out []string
	for _, t := range l.Tensors.Tensors {
		if m, ok := strings.CutSuffix(t.Name, ".lora_A.weight"); ok {
			out = append(out, strings.TrimPrefix(m, keyPrefix))
		}
	}
	sort.Strings(out)
	return out
}

// Combine builds a weighted combination of adapters with PEFT 0.12's
// add_weighted_adapter semantics:
//
//	linear: all ranks equal; A = Σ √(wᵢ·sᵢ)·Aᵢ, B = Σ √(wᵢ·sᵢ)·Bᵢ (weights ≥ 0)
//	cat:    rank Σ rᵢ; A = [w₁s₁A₁; w₂s₂A₂; …], B = [B₁ B₂ …], so
//	        B·A = Σ wᵢ·sᵢ·Bᵢ·Aᵢ exactly
//
// where sᵢ is adapter i's scaling of the module. The new adapter copies the
// first one's settings with r = lora_alpha = the new rank (scaling 1
// unless the first used rsLoRA), and targets the union of the targets. One
// adapter: cat is linear. Beyond PEFT (which refuses adapters that save
// the same module): the saved modules (the classification head) and
// trained biases are combined as Σ wᵢ·Tᵢ, and the adapters must share
// their labels.
func Combine(ls []*Loaded, weights []float64, how string) (*Combined, error) {
	if len(ls) == 0 || len(ls) != len(weights) {
		return nil, fmt.Errorf("lora combine: need adapters and as many weights (got %d and %d)", len(ls), len(weights))
	}
	if how != CombineLinear && how != CombineCat {
		return nil, fmt.Errorf("lora combine: method %q is not one of linear, cat", how)
	}
	if len(ls) == 1 {
		how = CombineLinear
	}
	first := ls[0]
	newRank := 0
	for i, l := range ls {
		switch {
		case l.Cfg.UseDoRA:
			return nil, fmt.Errorf("lora combine: %s uses DoRA, which combination does not support", l.Dir)
		case len(l.Cfg.RankPattern) > 0 || len(l.Cfg.AlphaPattern) > 0:
			return nil, fmt.Errorf("lora combine: %s has rank_pattern/alpha_pattern, which combination does not support", l.Dir)
		case how == CombineLinear && l.Cfg.R != first.Cfg.R:
			return nil, fmt.Errorf("lora combine: linear needs equal ranks (%s has r=%d, %s r=%d); use cat", first.Dir, first.Cfg.R, l.Dir, l.Cfg.R)
		case how == CombineLinear && weights[i] < 0:
			return nil, fmt.Errorf("lora combine: linear takes the square root of each weight; %s has weight %g", l.Dir, weights[i])
		case l.BaseModel != first.BaseModel:
			return nil, fmt.Errorf("lora combine: %s and %s were trained on different base models (%s, %s)", first.Dir, l.Dir, first.BaseModel, l.BaseModel)
		case !reflect.DeepEqual(l.Labels(), first.Labels()):
			return nil, fmt.Errorf("lora combine: %s and %s classify into different labels", first.Dir, l.Dir)
		}
		if how == CombineCat {
			newRank += l.Cfg.R
		}
	}
	if how == CombineLinear {
		newRank = first.Cfg.R
	}
	targets, err := unionTargets(ls)
	if err != nil {
		return nil, err
	}
	cfg := first.Cfg
	cfg.R, cfg.Alpha = newRank, float64(newRank)
	cfg.Targets, cfg.TargetRegex = nil, ""
	if s, ok := targets.(string); ok {
		cfg.TargetRegex = s
	} else {
		cfg.Targets = targets.([]string)
	}
	out := &Combined{Cfg: cfg, TargetModules: targets, BaseModel: first.BaseModel, Info: first.Info}
	if !filepath.IsAbs(out.BaseModel) { // keep it findable from the new folder
		if d, err := ResolveBase(first.Dir, out.BaseModel); err == nil {
			if abs, err := filepath.Abs(d); err == nil {
				out.BaseModel = abs
			}
		}
	}

	modSet := map[string]bool{}
	for _, l := range ls {
		for _, m := range l.loraModules() {
			modSet[m] = true
		}
	}
	for _, mod := range sortedKeys(modSet) {
		var in, outDim int
		var as, bs [][]float32
		var ranks []int
		var coefA, coefB []float64
		for i, l := range ls {
			ta, tb := l.Tensors.Get(keyA(mod)), l.Tensors.Get(keyB(mod))
			if ta == nil {
				continue
			}
			if tb == nil || len(ta.Shape) != 2 || len(tb.Shape) != 2 || tb.Shape[1] != ta.Shape[0] {
				return nil, fmt.Errorf("%s: tensors %s / %s are missing or do not fit", filepath.Join(l.Dir, WeightsFile), keyA(mod), keyB(mod))
			}
			if in != 0 && (ta.Shape[1] != in || tb.Shape[0] != outDim) {
				return nil, fmt.Errorf("lora combine: module %s has different shapes in %s and %s", mod, first.Dir, l.Dir)
			}
			in, outDim = ta.Shape[1], tb.Shape[0]
			r := ta.Shape[0]
			_, alpha := l.Cfg.rankAlpha(mod)
			s := Scaling(alpha, r, l.Cfg.UseRSLoRA)
			as, bs, ranks = append(as, ta.F32), append(bs, tb.F32), append(ranks, r)
			if how == CombineLinear {
				c := math.Sqrt(weights[i] * s)
				coefA, coefB = append(coefA, c), append(coefB, c)
			} else {
				coefA, coefB = append(coefA, weights[i]*s), append(coefB, 1)
			}
		}
		na, nb := make([]float32, newRank*in), make([]float32, outDim*newRank)
		row := 0
		for j := range as {
			r := ranks[j]
			if how == CombineLinear {
				for k := range na {
					na[k] += float32(coefA[j] * float64(as[j][k]))
				}
				for k := range nb {
					nb[k] += float32(coefB[j] * float64(bs[j][k]))
				}
				continue
			}
			for k := 0; k < r*in; k++ {
				na[row*in+k] = float32(coefA[j] * float64(as[j][k]))
			}
			for o := 0; o < outDim; o++ {
				copy(nb[o*newRank+row:o*newRank+row+r], bs[j][o*r:(o+1)*r])
			}
			row += r
		}
		out.Tensors = append(out.Tensors,
			&safetensors.Tensor{Name: keyA(mod), Shape: []int{newRank, in}, DType: safetensors.F32, F32: na},
			&safetensors.Tensor{Name: keyB(mod), Shape: []int{outDim, newRank}, DType: safetensors.F32, F32: nb})
	}
	// Saved modules and biases: the weighted sum.
	for _, t := range first.Tensors.Tensors {
		if strings.Contains(t.Name, ".lora_") || strings.Contains(t.Name, ".original_module.") {
			continue
		}
		sum := make([]float32, len(t.F32))
		for i, l := range ls {
			o := l.Tensors.Get(t.Name)
			if o == nil || !slices.Equal(o.Shape, t.Shape) {
				return nil, fmt.Errorf("lora combine: %s lacks %s (shape %v) that %s saves", filepath.Join(l.Dir, WeightsFile), t.Name, t.Shape, first.Dir)
			}
			for k := range sum {
				sum[k] += float32(weights[i] * float64(o.F32[k]))
			}
		}
		out.Tensors = append(out.Tensors, &safetensors.Tensor{Name: t.Name, Shape: append([]int{}, t.Shape...), DType: safetensors.F32, F32: sum})
	}
	return out, nil
}

// unionTargets unites the adapters' target_modules as PEFT does: lists as
// a set, regexes as "(re1)|(re2)"; a mix is an error.
func unionTargets(ls []*Loaded) (any, error) {
	_, isStr := ls[0].TargetModules.(string)
	set := map[string]bool{}
	var res []string
	for _, l := range ls {
		switch v := l.TargetModules.(type) {
		case string:
			if !isStr {
				return nil, fmt.Errorf("lora combine: target_modules mix lists and regexes (%s); PEFT does not support that", l.Dir)
			}
			res = append(res, "("+v+")")
		case []string:
			if isStr {
				return nil, fmt.Errorf("lora combine: target_modules mix lists and regexes (%s); PEFT does not support that", l.Dir)
			}
			for _, s := range v {
				set[s] = true
			}
		}
	}
	if isStr {
		return strings.Join(res, "|"), nil
	}
	return sortedKeys(set), nil
}

// Save writes the combined adapter in PEFT's layout into dir.
func (c *Combined) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving adapter: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), c.Tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	b, err := json.MarshalIndent(peftConfig(c.Cfg, c.TargetModules, c.BaseModel, "SEQ_CLS"), "", "  ")
	if err != nil {
		return err
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, ConfigFile), b); err != nil {
		return err
	}
	b, _ = json.MarshalIndent(c.Info, "", "  ")
	return checkpoint.WriteFileAtomic(filepath.Join(dir, InfoFile), b)
}
