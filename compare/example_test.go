package compare_test

import (
	"fmt"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/compare"
)

func ExampleParseSize() {
	for _, s := range []string{"2GB", "50MB", "512MiB"} {
		n, _ := compare.ParseSize(s)
		fmt.Println(s, n)
	}
	// Output:
	// 2GB 2000000000
	// 50MB 50000000
	// 512MiB 536870912
}

func ExampleRecipeFor() {
	for _, m := range []string{"full", "lora", "adapter", "ptuning"} {
		r := compare.RecipeFor(gotune.TaskClassify, m)
		fmt.Printf("%s: lr %g, %d epochs\n", m, r.LR, r.Epochs)
	}
	r := compare.RecipeFor(gotune.TaskCausalLM, "lora")
	fmt.Printf("lora, causal-lm: lr %g, %d epochs\n", r.LR, r.Epochs)
	// Output:
	// full: lr 2e-05, 3 epochs
	// lora: lr 0.0005, 10 epochs
	// adapter: lr 0.0001, 3 epochs
	// ptuning: lr 0.005, 10 epochs
	// lora, causal-lm: lr 0.0003, 3 epochs
}
