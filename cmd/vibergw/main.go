// Command vibergw runs Viber's gateway: the task API (a NATS micro
// service), the dispatcher, the projector and the HTTP server.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/viberhq/viber/internal/command"
)

func main() {
	if err := command.Run(context.Background(), command.Gateway(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
