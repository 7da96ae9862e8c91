// Command viberd runs a Viber daemon: it connects out to NATS, pulls the
// tasks assigned to it and runs them in its workspace.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/viberhq/viber/internal/command"
)

func main() {
	if err := command.Run(context.Background(), command.Daemon(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
