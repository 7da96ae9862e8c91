package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

// treeNode is a task with its children, for `viber task tree`.
type treeNode struct {
	*bus.Summary
	Kids []*treeNode `json:"kids,omitempty"`
}

func taskTree(c *cli.Context) error {
	id, err := oneArg(c, "task id")
	if err != nil {
		return err
	}
	root, err := request(c, func(ctx context.Context, cl *client.Client) (*treeNode, error) {
		s, err := cl.Task(ctx, id)
		if err != nil {
			return nil, err
		}
		for s.Parent != nil { // show the whole tree
			p, err := cl.Task(ctx, s.Parent.Task)
			if err != nil {
				break
			}
			s = p
		}
		return buildTree(ctx, cl, s, 0)
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, root)
	}
	printTree(os.Stdout, root, "", "", id)
	return nil
}

// buildTree fetches the children of s, and theirs (bounded, in case a log
// names a cycle).
func buildTree(ctx context.Context, cl *client.Client, s *bus.Summary, depth int) (*treeNode, error) {
	n := &treeNode{Summary: s}
	if depth > 8 {
		return n, nil
	}
	for _, ch := range s.Children {
		cs, err := cl.Task(ctx, ch.Task)
		if err != nil {
			cs = &bus.Summary{ID: ch.Task, Goal: "(" + err.Error() + ")"}
		}
		kid, err := buildTree(ctx, cl, cs, depth+1)
		if err != nil {
			return nil, err
		}
		n.Kids = append(n.Kids, kid)
	}
	return n, nil
}

func printTree(w io.Writer, n *treeNode, first, rest, mark string) {
	agent := n.Agent
	if agent == "" {
		agent = "default"
	}
	line := fmt.Sprintf("%s%s  %s  agent=%s  %s", first, n.ID, n.State, agent, oneLine(n.Goal, 60))
	if n.ID == mark {
		line += "  ←"
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
	for i, k := range n.Kids {
		if i == len(n.Kids)-1 {
			printTree(w, k, rest+"└─ ", rest+"   ", mark)
		} else {
			printTree(w, k, rest+"├─ ", rest+"│  ", mark)
		}
	}
}
