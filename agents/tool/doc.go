// Package tool holds the built-in tools a Viber agent can call — read_file,
// write_file, edit_file, list_dir, glob, grep, shell and web_fetch — and the
// Registry the agent loop presents to the model.
//
// # Contract
//
// A Tool has a stable snake_case Name, a Description and a JSON Schema of
// its arguments (Parameters), which Registry.LLMTools turns into
// langchaingo function definitions. Call takes the model's JSON arguments
// and returns a Result: the text for the model (and for the tool_result
// event), whether it is an error, and whether it was cut to a size cap.
// Bad arguments, refusals and failures are error Results whose message says
// what went wrong and what to do instead; a tool never panics at the model
// and never fails silently. Registry.Call adds a last line of defence: an
// unknown name or a panic becomes an error Result.
//
// # Safety model
//
// The tools are confined to a Workspace: one directory tree the daemon
// gives the agent, plus optional read-only roots (WithReadOnlyRoot, for
// example the skills folder).
//
//   - Paths. Every path argument goes through Workspace.Resolve (write
//     tools) or Workspace.ResolveRead (read tools). Relative paths are
//     relative to the workspace root. The path is made absolute and every
//     symbolic link on its existing prefix is followed — chains, dangling
//     links and links created inside the workspace pointing out included —
//     and the real result must lie inside an allowed root, else
//     ErrOutsideWorkspace. "..", absolute paths elsewhere, a leading "~"
//     (never expanded), NUL bytes and empty paths are refused. Writes into
//     a read-only root are refused with ErrReadOnly.
//   - Use. After the check, files are opened through os.Root on the
//     allowed root with the checked, link-free relative path, so a link
//     swapped in between check and use still cannot lead outside.
//   - Walking. glob and grep walk through os.Root's file system, never
//     follow symbolic links, and skip .git.
//   - Caps. Every answer is bounded: read_file by Options.MaxReadBytes and
//     a line limit, listings and shell output by Options.MaxOutputBytes
//     (shell keeps the head and the tail), grep and glob by match counts,
//     web_fetch by Options.MaxFetchBytes and Options.MaxOutputBytes.
//     Truncated tells the model there is more.
//   - Shell. shell is not a path tool and is not a sandbox: it runs
//     /bin/sh -c in the workspace root with empty stdin, in its own process
//     group, which is killed as a whole on timeout (Options.ShellTimeout,
//     per call up to Options.MaxShellTimeout) or when the context is
//     cancelled. Its environment is the daemon's minus variables that look
//     like secrets (or exactly Options.ShellEnv). A deny list refuses
//     obviously destructive commands — recursive rm/chmod/chown of / or of
//     system or home directories, mkfs, dd onto devices, fork bombs,
//     shutdown and reboot — after a light shell tokenisation, so spacing,
//     quoting, flag order and wrappers (sudo, env, sh -c, eval) do not
//     matter; Options.DenyCommands adds regular expressions. A textual
//     deny list is a guard rail against mistakes, not a defence against a
//     hostile model: real isolation (containers, users) belongs around the
//     daemon, and the per-tool allow/ask/deny policy of the agent loop
//     decides whether shell runs at all.
//   - Network. web_fetch allows only http and https GETs, with a timeout
//     and a size cap, and refuses loopback, private, link-local,
//     unspecified, multicast and reserved addresses unless
//     Options.AllowPrivateNetworks. The check runs in the dialer's Control
//     hook on the address actually dialled, so it covers DNS rebinding and
//     every redirect. Environment proxies are ignored, since a proxy would
//     resolve names itself.
//
// Every tool honours its context: cancelling it kills a running shell
// command's process group and aborts a fetch or a directory walk.
package tool
