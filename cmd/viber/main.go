// Command viber starts Viber on one machine (`viber up`) and talks to it:
// submit, watch and manage tasks, list daemons, run the benchmark.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/viberhq/viber/internal/command"
)

func main() {
	if err := command.Run(context.Background(), command.Viber(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
