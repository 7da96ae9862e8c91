package command

import (
	"context"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Run runs app with args (os.Args) after [ReorderArgs], so flags work
// anywhere on the line, as people type them, with the garbage collector's
// target at [DefaultGOGC] unless GOGC is set.
func Run(ctx context.Context, app *cli.App, args []string) error {
	tuneGC()
	return app.RunContext(ctx, ReorderArgs(app, args))
}

// ReorderArgs moves every flag of a command line next to the command that
// defines it, so that urfave/cli, which stops reading flags at the first
// argument, accepts them anywhere: `viber task deny ID CALL --reason why`
// and `viber --nats-url URL task submit GOAL` both work.
//
// args[0] is the program name. Commands are recognised by name from the
// app's tree; a flag goes to the deepest command of the line that defines
// it (the help flag to the deepest command; an unknown flag to the last
// command, which reports it). A flag that takes a value keeps the word
// after it. Everything after "--" stays an argument, and so does a word
// that begins with '-' but names no flag once the arguments have started
// ("viber task send ID -- -1" and "viber task send ID -1" both send "-1").
// Arguments keep their order and come last, after a "--" whenever one of
// them begins with '-'.
func ReorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	type flagWords struct {
		name  string
		words []string
	}
	var (
		path       = []*cli.Command{nil} // nil is the app itself
		flags      []flagWords
		positional []string
		rest       []string
		dashdash   bool
	)
	flagsOf := func(cmd *cli.Command) []cli.Flag {
		if cmd == nil {
			return app.Flags
		}
		return cmd.Flags
	}
	subcommandsOf := func(cmd *cli.Command) []*cli.Command {
		if cmd == nil {
			return app.Commands
		}
		return cmd.Subcommands
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			dashdash, rest = true, args[i+1:]
			break
		}
		cur := path[len(path)-1]
		if name, hasValue, ok := flagWord(a); ok {
			takes, known := takesValue(app, path, name)
			if known || len(positional) == 0 {
				fw := flagWords{name: name, words: []string{a}}
				if takes && !hasValue && i+1 < len(args) {
					i++
					fw.words = append(fw.words, args[i])
				}
				flags = append(flags, fw)
				continue
			}
		}
		if len(positional) == 0 {
			if sub := findSubcommand(subcommandsOf(cur), a); sub != nil {
				path = append(path, sub)
				continue
			}
		}
		positional = append(positional, a)
	}
	// Each flag goes to the deepest command on the path that defines it.
	byLevel := make([][]string, len(path))
	for _, f := range flags {
		level := len(path) - 1
		if !isHelp(f.name) {
			for l := len(path) - 1; l >= 0; l-- {
				if defines(flagsOf(path[l]), f.name) || (l == 0 && isVersion(app, f.name)) {
					level = l
					break
				}
			}
		}
		byLevel[level] = append(byLevel[level], f.words...)
	}
	out := []string{args[0]}
	for l, cmd := range path {
		if cmd != nil {
			out = append(out, cmd.Name)
		}
		out = append(out, byLevel[l]...)
	}
	if dashdash || slices.ContainsFunc(positional, func(s string) bool { return strings.HasPrefix(s, "-") && s != "-" }) {
		out = append(out, "--")
	}
	out = append(out, positional...)
	return append(out, rest...)
}

// flagWord reports whether a looks like a flag ("-x", "--name", "--name=v")
// and returns its name.
func flagWord(a string) (name string, hasValue, ok bool) {
	if len(a) < 2 || a[0] != '-' {
		return "", false, false
	}
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if name == "" || name[0] == '-' || name[0] == '=' {
		return "", false, false
	}
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue, true
}

// takesValue looks name up on the path (deepest first), then anywhere
// below its last command (flags of a command not yet named on the line,
// as in `viber --nats-url URL task submit`).
func takesValue(app *cli.App, path []*cli.Command, name string) (takes, known bool) {
	if isHelp(name) || isVersion(app, name) {
		return false, true
	}
	for l := len(path) - 1; l >= 0; l-- {
		fl := app.Flags
		if path[l] != nil {
			fl = path[l].Flags
		}
		if f := lookupFlag(fl, name); f != nil {
			return flagTakesValue(f), true
		}
	}
	subs := app.Commands
	if last := path[len(path)-1]; last != nil {
		subs = last.Subcommands
	}
	var found []bool
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			if f := lookupFlag(c.Flags, name); f != nil {
				found = append(found, flagTakesValue(f))
			}
			walk(c.Subcommands)
		}
	}
	walk(subs)
	if len(found) == 0 {
		return false, false
	}
	// Where commands disagree, a flag with a value is the safer guess: the
	// command it lands on reports a misuse.
	return slices.Contains(found, true), true
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func defines(flags []cli.Flag, name string) bool { return lookupFlag(flags, name) != nil }

func flagTakesValue(f cli.Flag) bool {
	if v, ok := f.(interface{ TakesValue() bool }); ok {
		return v.TakesValue()
	}
	return true
}

func isHelp(name string) bool { return name == "help" || name == "h" }

func isVersion(app *cli.App, name string) bool {
	return !app.HideVersion && app.Version != "" && (name == "version" || name == "v")
}

func findSubcommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}
