package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFlagUsageHasNoBackquotes: the flag package prints a back-quoted word
// of a usage string as the flag's placeholder ("-lora-targets gotune lora
// targets"), so no flag of any command may have one.
func TestFlagUsageHasNoBackquotes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	definers := map[string]bool{"String": true, "StringVar": true, "Int": true, "IntVar": true, "Int64": true, "Int64Var": true,
		"Bool": true, "BoolVar": true, "Float64": true, "Float64Var": true, "Duration": true, "DurationVar": true, "Var": true,
		"Func": true, "BoolFunc": true, "TextVar": true, "Uint64": true, "Uint64Var": true}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !definers[sel.Sel.Name] {
				return true
			}
			lit, ok := call.Args[len(call.Args)-1].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			usage, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			checked++
			if strings.Contains(usage, "`") {
				t.Errorf("%s: flag usage %q has a back-quote (the flag package shows the quoted text as the flag's placeholder)", fset.Position(lit.Pos()), usage)
			}
			return true
		})
	}
	if checked < 50 {
		t.Fatalf("checked only %d flag usages: the test no longer finds the flag definitions", checked)
	}
}

// TestEvalPredictHelp: eval -h and predict -h list the adapter flags.
func TestEvalPredictHelp(t *testing.T) {
	for _, cmd := range []string{"eval", "predict"} {
		code, out, errOut := gotuneCmd(t, cmd, "-h")
		if code != 0 {
			t.Errorf("%s -h: exit %d", cmd, code)
		}
		for _, f := range []string{"-adapter", "-use", "-base", "-model", "-text-field", "-max-len"} {
			if !strings.Contains(out+errOut, "  "+f+" ") && !strings.Contains(out+errOut, "  "+f+"\n") {
				t.Errorf("%s -h does not list %s:\n%s", cmd, f, out+errOut)
			}
		}
	}
}

// TestReadmeListsEveryCommand: the README's command list has every command
// of `gotune -h` (and the subcommands of adapter and lora), and neither
// points users at the development machine's ../shared folder.
func TestReadmeListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Commands")
	end := strings.Index(readme[start:], "\n```\n\n")
	if start < 0 || end < 0 {
		t.Fatal("README has no command list")
	}
	list := readme[start : start+end]
	_, cmds, _ := strings.Cut(usage, "Commands:\n")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	n := 0
	for _, line := range strings.Split(cmds, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		n++
		if !strings.Contains(list, "gotune "+f[0]+" ") {
			t.Errorf("the README's command list lacks gotune %s", f[0])
		}
	}
	for _, sub := range []string{"adapter plan", "adapter average", "lora targets", "lora combine"} {
		if !strings.Contains(list, "gotune "+sub) {
			t.Errorf("the README's command list lacks gotune %s", sub)
		}
	}
	if n < 10 {
		t.Fatalf("found %d commands in usage", n)
	}
	if strings.Contains(list, "shared/peer") || strings.Contains(usage, "shared/peer") {
		t.Error("the command list points users at ../shared/peer")
	}
}
