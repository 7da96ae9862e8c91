package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/client"
)

const scopeHelp = `SCOPE is global, agent:NAME (one named agent's memory) or user:SUBMITTER
(memory about one user, e.g. user:viber/alice).`

func memoryCommand() *cli.Command {
	common := func(extra ...cli.Flag) []cli.Flag {
		return append(append(natsFlags(), jsonFlag(), timeoutFlag()), extra...)
	}
	return &cli.Command{
		Name:  "memory",
		Usage: "list, show, edit and restore what agents remember",
		Subcommands: []*cli.Command{
			{
				Name: "ls", Usage: "list memory files", ArgsUsage: "[SCOPE]",
				Description: "ls lists the memory files of SCOPE, or of every scope.\n" + scopeHelp + "\n\nExample:\n\n   viber memory ls agent:reviewer",
				Flags:       common(), Action: memoryList,
			},
			{
				Name: "show", Usage: "print a memory file", ArgsUsage: "SCOPE NAME",
				Description: "show prints a memory file (an earlier revision with --revision).\n" + scopeHelp + "\n\nExample:\n\n   viber memory show global MEMORY.md",
				Flags:       common(&cli.Uint64Flag{Name: "revision", Usage: "print this revision (see `viber memory log`)"}),
				Action:      memoryShow,
			},
			{
				Name: "edit", Usage: "change a memory file in $EDITOR, or write it from stdin", ArgsUsage: "SCOPE NAME",
				Description: `edit opens the file in $EDITOR when stdin is a terminal, otherwise reads the
new text from stdin, and writes it only if nobody changed the file meanwhile.
` + scopeHelp + `

Example:

   viber memory edit agent:reviewer MEMORY.md
   echo "Prefers short answers." | viber memory edit user:viber/alice USER.md`,
				Flags: common(), Action: memoryEdit,
			},
			{
				Name: "log", Usage: "list a memory file's revisions, newest first", ArgsUsage: "SCOPE NAME",
				Description: "log lists the stored revisions of a file; each agent write is also a memory_updated event of its task.\n" + scopeHelp + "\n\nExample:\n\n   viber memory log agent:reviewer MEMORY.md",
				Flags:       common(), Action: memoryLog,
			},
			{
				Name: "restore", Usage: "make an earlier revision current again", ArgsUsage: "SCOPE NAME REVISION",
				Description: "restore writes revision REVISION's text as the file's new revision.\n" + scopeHelp + "\n\nExample:\n\n   viber memory restore agent:reviewer MEMORY.md 3",
				Flags:       common(), Action: memoryRestore,
			},
		},
	}
}

// memoryArgs reads SCOPE NAME (and more, counted by want).
func memoryArgs(c *cli.Context, want int, usage string) ([]string, error) {
	if c.NArg() != want {
		return nil, cli.Exit(fmt.Sprintf("viber %s: want %s (see --help)", c.Command.FullName(), usage), 1)
	}
	args := c.Args().Slice()
	if _, err := bus.ParseMemoryScope(args[0]); err != nil {
		return nil, cli.Exit(fmt.Sprintf("viber %s: %v", c.Command.FullName(), err), 1)
	}
	return args, nil
}

// memoryError makes API errors of memory commands say what to do.
func memoryError(err error) error {
	switch {
	case errors.Is(err, bus.ErrMemoryNotFound):
		return cli.Exit("viber: "+err.Error()+" (`viber memory ls` lists the files)", 1)
	case errors.Is(err, bus.ErrConflict):
		return cli.Exit("viber: "+err.Error()+" (someone wrote it meanwhile: run the command again on the new text)", 1)
	}
	return userError(err)
}

func memoryRequest[T any](c *cli.Context, fn func(context.Context, *client.Client) (T, error)) (T, error) {
	var zero T
	cl, nc, err := dial(c)
	if err != nil {
		return zero, userError(err)
	}
	defer nc.Close()
	ctx, cancel := requestContext(c)
	defer cancel()
	v, err := fn(ctx, cl)
	if err != nil {
		return zero, memoryError(err)
	}
	return v, nil
}

func memoryList(c *cli.Context) error {
	scope := ""
	switch c.NArg() {
	case 0:
	case 1:
		scope = c.Args().First()
		if _, err := bus.ParseMemoryScope(scope); err != nil {
			return cli.Exit("viber memory ls: "+err.Error(), 1)
		}
	default:
		return cli.Exit("viber memory ls: want at most one SCOPE", 1)
	}
	files, err := memoryRequest(c, func(ctx context.Context, cl *client.Client) ([]*bus.MemoryFile, error) {
		return cl.MemoryList(ctx, scope)
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, files)
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "no memory files")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tNAME\tBYTES\tREVISION\tUPDATED")
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", f.Scope, f.Name, f.Bytes, f.Revision, f.Updated.Local().Format(time.RFC3339))
	}
	return tw.Flush()
}

func memoryShow(c *cli.Context) error {
	args, err := memoryArgs(c, 2, "SCOPE NAME")
	if err != nil {
		return err
	}
	f, err := memoryRequest(c, func(ctx context.Context, cl *client.Client) (*bus.MemoryFile, error) {
		return cl.MemoryGet(ctx, args[0], args[1], c.Uint64("revision"))
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, f)
	}
	fmt.Print(f.Content)
	if !strings.HasSuffix(f.Content, "\n") {
		fmt.Println()
	}
	return nil
}

func memoryEdit(c *cli.Context) error {
	args, err := memoryArgs(c, 2, "SCOPE NAME")
	if err != nil {
		return err
	}
	cl, nc, err := dial(c)
	if err != nil {
		return userError(err)
	}
	defer nc.Close()
	ctx, cancel := requestContext(c)
	cur, err := cl.MemoryGet(ctx, args[0], args[1], 0)
	cancel()
	rev, old := uint64(0), ""
	switch {
	case err == nil:
		rev, old = cur.Revision, cur.Content
	case !errors.Is(err, bus.ErrMemoryNotFound):
		return memoryError(err)
	}
	var text string
	if isTerminal(os.Stdin) {
		if text, err = editText(c.Context, args[1], old); err != nil {
			return cli.Exit("viber memory edit: "+err.Error(), 1)
		}
	} else {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, bus.MaxMemoryBytes+1))
		if err != nil {
			return cli.Exit("viber memory edit: read stdin: "+err.Error(), 1)
		}
		text = string(b)
	}
	if text == old && rev != 0 {
		fmt.Fprintln(os.Stderr, "unchanged; nothing written")
		return nil
	}
	ctx, cancel = requestContext(c)
	defer cancel()
	f, err := cl.MemoryPut(ctx, args[0], args[1], text, rev)
	if err != nil {
		return memoryError(err)
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, f)
	}
	fmt.Fprintf(os.Stderr, "wrote %s %s: revision %d (%d bytes)\n", f.Scope, f.Name, f.Revision, f.Bytes)
	return nil
}

// editText opens text in $VISUAL or $EDITOR (default vi) and returns what
// the editor saved.
func editText(ctx context.Context, name, text string) (string, error) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	dir, err := os.MkdirTemp("", "viber-memory-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return "", err
	}
	parts := strings.Fields(editor)
	cmd := exec.CommandContext(ctx, parts[0], append(parts[1:], p)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("editor %s: %w", editor, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func memoryLog(c *cli.Context) error {
	args, err := memoryArgs(c, 2, "SCOPE NAME")
	if err != nil {
		return err
	}
	revs, err := memoryRequest(c, func(ctx context.Context, cl *client.Client) ([]*bus.MemoryFile, error) {
		return cl.MemoryHistory(ctx, args[0], args[1])
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, revs)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tUPDATED\tBYTES\tTEXT")
	for _, f := range revs {
		text := oneLine(f.Content, 60)
		if f.Deleted {
			text = "(deleted)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", f.Revision, f.Updated.Local().Format(time.RFC3339), f.Bytes, text)
	}
	return tw.Flush()
}

func memoryRestore(c *cli.Context) error {
	args, err := memoryArgs(c, 3, "SCOPE NAME REVISION")
	if err != nil {
		return err
	}
	rev, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil || rev == 0 {
		return cli.Exit("viber memory restore: REVISION must be a revision number (see `viber memory log`)", 1)
	}
	f, err := memoryRequest(c, func(ctx context.Context, cl *client.Client) (*bus.MemoryFile, error) {
		return cl.MemoryRestore(ctx, args[0], args[1], rev)
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(os.Stdout, f)
	}
	fmt.Fprintf(os.Stderr, "restored %s %s revision %d as revision %d\n", f.Scope, f.Name, rev, f.Revision)
	return nil
}
