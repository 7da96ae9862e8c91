// Command vibergw runs Viber's gateway: the task API (a NATS micro
// service), the dispatcher, the projector and the HTTP server.
package main

import (
	"fmt"
	"os"

	"github.com/viberhq/viber/internal/command"
)

func main() {
	if err := command.Gateway().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
