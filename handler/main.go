// Command handler is flowbricks' Azure Functions custom handler: the executable host.json names.
// The Functions host starts it with FUNCTIONS_CUSTOMHANDLER_PORT and forwards every HTTP request
// to it. Everything it does is in internal/app; this package only runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowbricks/flowbricks/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "flowbricks:", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled. The arguments are unused: the Functions host configures a
// custom handler through its environment only. Log lines go to stdout, which the host captures.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout, _ io.Writer) error {
	stopProfile, err := benchProfile(getenv)
	if err != nil {
		return err
	}
	defer stopProfile()
	return app.Run(ctx, getenv, stdout)
}
