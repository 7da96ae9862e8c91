package command

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/viberhq/viber/bus/auth"
)

// authDir is where the gateway keeps its NATS keys: <data>/auth.
func authDir(data string) string { return filepath.Join(data, "auth") }

func credsDataFlag() cli.Flag {
	return &cli.StringFlag{Name: "data", Usage: "the gateway's --data directory (keys live in <data>/auth)", EnvVars: []string{"VIBER_DATA"}, Value: filepath.Join(viberHome(), "gateway")}
}

func credsOutFlag() cli.Flag {
	return &cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the .creds file here (mode 0600) instead of to stdout"}
}

// credsCommand is `vibergw creds`.
func credsCommand() *cli.Command {
	return &cli.Command{
		Name:  "creds",
		Usage: "issue and revoke NATS credentials (operator mode; see docs/auth.md)",
		Description: `The first use creates <data>/auth: an operator, the SYS and VIBER
accounts and the account signing key, all 0600. From then on vibergw runs its
embedded server with auth on. Credentials are signed offline; a running
gateway accepts new ones at once.`,
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create the operator, accounts and keys under <data>/auth (idempotent)",
				Flags: []cli.Flag{credsDataFlag()},
				Action: func(c *cli.Context) error {
					st, err := auth.Init(authDir(credsData(c)))
					if err != nil {
						return userError(err)
					}
					fmt.Fprintf(c.App.Writer, "auth store %s\naccount %s\n", st.Dir(), st.Account())
					return nil
				},
			},
			{
				Name:      "daemon",
				Usage:     "issue the credential of daemon NAME (viberd --name NAME --creds FILE)",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{credsDataFlag(), credsOutFlag(),
					&cli.StringFlag{Name: "inbox-prefix", Usage: "allow replies only under this prefix instead of _INBOX (the daemon must use it as its inbox prefix)"},
					&cli.BoolFlag{Name: "private-inbox", Usage: "same as --inbox-prefix " + auth.DaemonInbox("NAME")},
				},
				Action: func(c *cli.Context) error {
					a, err := credsArgs(c, "inbox-prefix")
					if err != nil {
						return userError(err)
					}
					inbox := a.get("inbox-prefix")
					if a.bool("private-inbox") {
						inbox = auth.DaemonInbox(a.name)
					}
					st, err := openOrInit(c, a.get("data"))
					if err != nil {
						return userError(err)
					}
					creds, pub, err := st.IssueDaemon(a.name, inbox)
					if err != nil {
						return userError(err)
					}
					return emitCreds(c, a.get("out"), creds, "daemon "+a.name, pub)
				},
			},
			{
				Name:      "edge",
				Usage:     "issue the leaf-link credential of edge daemon NAME (viberd --leaf URL --leaf-creds FILE --name NAME)",
				ArgsUsage: "NAME",
				Description: `An edge daemon runs its own leaf node and reaches the hub's JetStream
through the hub's domain ($JS.<domain>.API.…). Its credential allows what a
daemon needs under that prefix, replies only on _INBOX_viberd_NAME (viberd
--leaf uses it), and is good for leaf-node links only.`,
				Flags: []cli.Flag{credsDataFlag(), credsOutFlag(),
					&cli.StringFlag{Name: "hub-domain", Usage: "the hub's JetStream domain (vibergw --js-domain, viberd --hub-domain)", Value: "hub"},
				},
				Action: func(c *cli.Context) error {
					a, err := credsArgs(c, "hub-domain")
					if err != nil {
						return userError(err)
					}
					st, err := openOrInit(c, a.get("data"))
					if err != nil {
						return userError(err)
					}
					creds, pub, err := st.IssueEdge(a.name, a.get("hub-domain"))
					if err != nil {
						return userError(err)
					}
					return emitCreds(c, a.get("out"), creds, "edge daemon "+a.name, pub)
				},
			},
			{
				Name:      "user",
				Usage:     "issue a CLI user's credential (viber --creds FILE): gateway API, read the task log, live deltas",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{credsDataFlag(), credsOutFlag()},
				Action: func(c *cli.Context) error {
					a, err := credsArgs(c)
					if err != nil {
						return userError(err)
					}
					st, err := openOrInit(c, a.get("data"))
					if err != nil {
						return userError(err)
					}
					creds, pub, err := st.IssueUser(a.name)
					if err != nil {
						return userError(err)
					}
					return emitCreds(c, a.get("out"), creds, "user "+a.name, pub)
				},
			},
			{
				Name:      "revoke",
				Usage:     "revoke every credential issued to NAME (takes effect when the gateway restarts)",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{credsDataFlag(),
					&cli.StringFlag{Name: "kind", Usage: "daemon, edge or user (default: all)"},
				},
				Action: func(c *cli.Context) error {
					a, err := credsArgs(c, "kind")
					if err != nil {
						return userError(err)
					}
					kind := auth.Kind(a.get("kind"))
					if kind != "" && kind != auth.KindDaemon && kind != auth.KindEdge && kind != auth.KindUser {
						return userError(fmt.Errorf("--kind %q: use daemon, edge or user", kind))
					}
					st, err := auth.Open(authDir(a.get("data")))
					if err != nil {
						return userError(err)
					}
					n, err := st.Revoke(kind, a.name)
					if err != nil {
						return userError(err)
					}
					if n == 0 {
						return userError(fmt.Errorf("no unrevoked credential issued to %q", a.name))
					}
					fmt.Fprintf(c.App.ErrWriter, "revoked %d credential(s) of %s; restart vibergw (or reload an external nats-server with %s) to apply\n",
						n, a.name, filepath.Join(st.Dir(), auth.ServerConfigFile))
					return nil
				},
			},
			{
				Name:  "rotate-signing-key",
				Usage: "replace the account signing key: every credential issued so far stops working at the next gateway start",
				Flags: []cli.Flag{credsDataFlag()},
				Action: func(c *cli.Context) error {
					st, err := auth.Open(authDir(credsData(c)))
					if err != nil {
						return userError(err)
					}
					pub, err := st.RotateSigningKey()
					if err != nil {
						return userError(err)
					}
					fmt.Fprintf(c.App.ErrWriter, "new signing key %s; restart vibergw, then issue new credentials to every daemon and user\n", pub)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list issued credentials",
				Flags: []cli.Flag{credsDataFlag()},
				Action: func(c *cli.Context) error {
					st, err := auth.Open(authDir(credsData(c)))
					if err != nil {
						return userError(err)
					}
					list, err := st.Issued()
					if err != nil {
						return userError(err)
					}
					for _, e := range list {
						state := "active"
						if e.Revoked {
							state = "revoked"
						}
						fmt.Fprintf(c.App.Writer, "%-7s %-24s %s %s %s\n", e.Kind, e.Name, e.IssuedAt.Format("2006-01-02T15:04:05Z"), state, e.PublicKey)
					}
					return nil
				},
			},
			{
				Name:  "server-config",
				Usage: "print a nats-server config fragment trusting these accounts (for an external server)",
				Flags: []cli.Flag{credsDataFlag()},
				Action: func(c *cli.Context) error {
					st, err := auth.Open(authDir(credsData(c)))
					if err != nil {
						return userError(err)
					}
					_, err = io.WriteString(c.App.Writer, st.ServerConfig())
					return err
				},
			},
		},
	}
}

// parsedCreds is a creds subcommand's NAME and flags, which may come
// before or after NAME.
type parsedCreds struct {
	name  string
	vals  map[string]*string
	bools map[string]*bool
}

func (p *parsedCreds) get(name string) string { return *p.vals[name] }
func (p *parsedCreds) bool(name string) bool  { return p.bools[name] != nil && *p.bools[name] }

// credsArgs takes NAME from the arguments and parses flags given after it
// (urfave/cli stops at the first argument), so both `creds daemon --out F
// NAME` and `creds daemon NAME --out F` work.
func credsArgs(c *cli.Context, extra ...string) (*parsedCreds, error) {
	args := c.Args().Slice()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, fmt.Errorf("%s: give a NAME", c.Command.FullName())
	}
	p := &parsedCreds{name: args[0], vals: map[string]*string{}, bools: map[string]*bool{}}
	fs := flag.NewFlagSet(c.Command.FullName(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, n := range append([]string{"data", "out"}, extra...) {
		p.vals[n] = fs.String(n, c.String(n), "")
	}
	*p.vals["data"] = credsData(c)
	if c.Command.Name == "daemon" {
		p.bools["private-inbox"] = fs.Bool("private-inbox", c.Bool("private-inbox"), "")
	}
	p.vals["o"] = p.vals["out"]
	fs.StringVar(p.vals["out"], "o", c.String("out"), "")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Command.FullName(), err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: one NAME only (got %q too)", c.Command.FullName(), fs.Args())
	}
	return p, nil
}

// credsData is the --data of a creds subcommand, or the gateway's when
// given before `creds` (`vibergw --data DIR creds ...`).
func credsData(c *cli.Context) string {
	for _, l := range c.Lineage() {
		for _, n := range l.LocalFlagNames() {
			if n == "data" && l.String("data") != "" {
				return l.String("data")
			}
		}
	}
	if d := c.String("data"); d != "" {
		return d
	}
	return filepath.Join(viberHome(), "gateway")
}

// openOrInit opens the auth store, creating it on first use.
func openOrInit(c *cli.Context, data string) (*auth.Store, error) {
	dir := authDir(data)
	if auth.Exists(dir) {
		return auth.Open(dir)
	}
	st, err := auth.Init(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "created %s: vibergw --data %s now runs with auth on (restart it if it runs)\n", dir, data)
	return st, nil
}

func emitCreds(c *cli.Context, out string, creds []byte, who, pub string) error {
	if out == "" || out == "-" {
		_, err := c.App.Writer.Write(creds)
		return err
	}
	if err := auth.WriteCreds(out, creds); err != nil {
		return userError(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote credential of %s (%s) to %s\n", who, pub, out)
	return nil
}
