package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPretrainCommand pretrains a 1-layer BERT on a small Korean text file
// with the real binary, then fine-tunes it with `gotune train`: the folder
// is a cased BertForMaskedLM base with its tokenizer and a record of the
// run, and bad inputs end with one error line naming the culprit.
func TestPretrainCommand(t *testing.T) {
	dir := t.TempDir()
	var lines, train []string
	for i := 0; i < 200; i++ {
		good := i%2 == 0
		text := fmt.Sprintf("영화 %s 배우 연기는 %s ㅋㅋ %d", map[bool]string{true: "정말 재밌다", false: "너무 별로다"}[good], []string{"좋았다", "아쉬웠다"}[i%3%2], i%7)
		lines = append(lines, text)
		if i < 60 {
			b, _ := json.Marshal(map[string]string{"text": text, "label": map[bool]string{true: "pos", false: "neg"}[good]})
			train = append(train, string(b))
		}
	}
	corpus := writeFile(t, filepath.Join(dir, "corpus.txt"), strings.Join(lines, "\n")+"\n")
	out := filepath.Join(dir, "ko-bert")
	code, stdout, stderr := gotuneCmd(t, "pretrain", "--text", corpus, "--out", out, "--layers", "1", "--hidden", "32", "--heads", "2",
		"--intermediate", "64", "--max-len", "32", "--steps", "40", "--batch-size", "16", "--lr", "3e-3", "--held-out", "20")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "held-out masked-token loss") || !strings.Contains(stdout, "cased") {
		t.Errorf("output does not report the held-out loss and casing:\n%s", stdout)
	}
	var info pretrainInfo
	b, err := os.ReadFile(filepath.Join(out, "gotune_pretrain.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.TrainTexts != 180 || info.HeldOutTexts != 20 || info.LowerCase || info.HeldOutAfter.Loss >= info.HeldOutBefore.Loss {
		t.Errorf("gotune_pretrain.json: %+v", info)
	}
	for _, f := range []string{"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("saved folder lacks %s", f)
		}
	}
	if _, err := os.Stat(out + ".tmp"); err == nil {
		t.Errorf("the temporary folder %s.tmp was left behind", out)
	}
	data := writeFile(t, filepath.Join(dir, "train.jsonl"), strings.Join(train, "\n")+"\n")
	if code, _, stderr := gotuneCmd(t, "train", "--model", out, "--train", data, "--out", filepath.Join(dir, "run"), "--epochs", "1", "--max-len", "32"); code != 0 {
		t.Fatalf("fine-tuning the pretrained base: exit %d: %s", code, stderr)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no text", []string{"--out", filepath.Join(dir, "x")}, []string{"--text", "--out"}},
		{"missing file", []string{"--text", filepath.Join(dir, "none.txt"), "--out", filepath.Join(dir, "x")}, []string{"none.txt"}},
		{"too little text", []string{"--text", writeFile(t, filepath.Join(dir, "short.txt"), "one\ntwo\n"), "--out", filepath.Join(dir, "x")}, []string{"short.txt", "2 non-empty texts"}},
		{"out not empty", []string{"--text", corpus, "--out", out}, []string{"ko-bert", "not empty"}},
		{"hidden not a multiple of heads", []string{"--text", corpus, "--out", filepath.Join(dir, "x"), "--hidden", "30", "--heads", "4"}, []string{"--hidden 30", "--heads 4"}},
		{"bad mask rate", []string{"--text", corpus, "--out", filepath.Join(dir, "x"), "--mask-rate", "1.5"}, []string{"mask rate", "1.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := gotuneCmd(t, append([]string{"pretrain"}, tc.args...)...)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if code == 0 || len(lines) != 1 || strings.Contains(stderr, "panic") {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q does not mention %q", lines[0], w)
				}
			}
		})
	}
}
