package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/board"
)

// trainBoardOptions are the board's view of `gotune train`: its flags
// (the new-run form is built from bindTrainFlags), their check, and the
// flags that name files.
func trainBoardOptions(o board.Options) board.Options {
	o.TrainFlags = func(fs *flag.FlagSet) {
		cfg, path := gotune.DefaultConfig(), ""
		bindTrainFlags(fs, &cfg, &path)
	}
	o.CheckTrain = func(args []string) (map[string]string, error) {
		cfg, err := parseTrainFlags(args, io.Discard)
		if err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return map[string]string{"model": cfg.Model, "train": cfg.Train, "eval": cfg.Eval}, nil
	}
	o.ReadPathFlags = []string{"config", "model", "train", "eval"}
	o.OutFlag = "out"
	return o
}

func runBoard(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("board", flag.ContinueOnError)
	fs.SetOutput(errOut)
	runs := fs.String("runs", "runs", "folder of run folders to show; new runs are created in it")
	data := fs.String("data", ".", "comma-separated folders the new-run form may read models, data and config files from")
	addr := fs.String("addr", "127.0.0.1:7860", "address to listen on; any address but a loopback one requires the access token printed at start")
	lang := fs.String("lang", "", "UI language: ko or en (default: the browser's Accept-Language)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", *addr, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the gotune binary: %w", err)
	}
	opts := board.Options{Runs: *runs, Data: strings.Split(*data, ","), Lang: *lang, Exe: exe}
	ip := net.ParseIP(host)
	opts.Loopback = host == "localhost" || (ip != nil && ip.IsLoopback())
	if !opts.Loopback {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		opts.Token = hex.EncodeToString(b)
	}
	srv, err := board.New(trainBoardOptions(opts))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	if opts.Token != "" {
		url += "?token=" + opts.Token
		fmt.Fprintf(out, "board: listening on %s (not loopback: open it with this token)\n", ln.Addr())
	}
	fmt.Fprintf(out, "board: %s  (runs in %s; Ctrl-C stops the board and interrupts its runs, which save a checkpoint)\n", url, *runs)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	fmt.Fprintln(out, "board: stopping; waiting for runs to save their checkpoints")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv.Shutdown(sctx)
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
