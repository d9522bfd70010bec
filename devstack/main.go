// Command devstack runs flowbricks end to end on one machine with no Azure account: a fake
// Entra ID (HTTPS, its own CA), a fake Azure Databricks workspace, and a stand-in for the Azure
// Functions host that starts the real handler binary the way `func start` does.
//
//	go run ./devstack up    [--dir D] [--port 7071] [--fixture F] [--app A] [--no-build] [--detach]
//	go run ./devstack down  [--dir D]
//	go run ./devstack token --user alice | --app CLIENT_ID [--dir D] [--ttl 1h]
//	go run ./devstack demo  [--port 7071] [--app A] [--no-build]
//	go run ./devstack bench [--users 1000] [--concurrency 32] [--requests 20000] [--cold-starts 20] [--out F] [--profile DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowbricks/flowbricks/devstack/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "devstack:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: devstack <command> [flags]

commands:
  up     start the fake Entra ID, the fake workspace and the handler behind the host stand-in; prints "ready"
         (--detach: in the background, returning once ready)
  down   stop the stack started by up in --dir, the handler included, and remove its state
  token  print an access token for the flowbricks API, as the fake Entra ID issues it
  demo   run the whole story end to end (exit 0 only if the job succeeded)
  bench  measure the handler under load against the local stack`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return runUp(ctx, rest, getenv, stdout, stderr)
	case "down":
		return runDown(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, getenv, stdout, stderr)
	case "bench":
		root, err := repoRoot()
		if err != nil {
			return err
		}
		return bench.Run(ctx, rest, root, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("devstack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
