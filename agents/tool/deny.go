package tool

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// The deny list is a guard rail against commands whose only plausible
// effect is wrecking the machine. It is not a sandbox: a determined
// command can always be obfuscated past a textual check. It works on a
// light shell tokenisation (quotes, escapes, separators, command
// substitution) so that spacing, quoting, flag order and wrappers such as
// sudo, env or sh -c do not get past it.

var (
	spaceRun = regexp.MustCompile(`\s+`)
	// forkBomb matches name(){ ... } function definitions; the body is
	// then checked for the function piping into itself in the background.
	forkBomb = regexp.MustCompile(`(?:function\s+([^\s(){}|&;<>]+)\s*(?:\(\s*\))?|([^\s(){}|&;<>]+)\s*\(\s*\))\s*\{([^}]*)\}`)
	// rawDevice matches a redirection onto a disk device.
	rawDevice = regexp.MustCompile(`>\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|mapper/|md|dm-|loop)`)
)

// criticalPaths are targets a recursive rm, chmod or chown must never get.
var criticalPaths = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true,
	"/home": true, "/lib": true, "/lib32": true, "/lib64": true,
	"/opt": true, "/proc": true, "/root": true, "/run": true, "/sbin": true,
	"/srv": true, "/sys": true, "/usr": true, "/var": true, "/Users": true,
	"/System": true, "/Library": true, "/Applications": true,
}

// denied returns why command is refused, or "" when it may run. extra
// are operator patterns matched against the whole normalised command and
// against each simple command.
func denied(command string, extra []*regexp.Regexp) string {
	return deniedDepth(command, extra, 0)
}

func deniedDepth(command string, extra []*regexp.Regexp, depth int) string {
	if depth > 4 {
		return ""
	}
	norm := strings.TrimSpace(spaceRun.ReplaceAllString(strings.ReplaceAll(command, "\\\n", " "), " "))
	for _, re := range extra {
		if re.MatchString(norm) {
			return fmt.Sprintf("matches the operator deny pattern %q", re.String())
		}
	}
	for _, m := range forkBomb.FindAllStringSubmatch(norm, -1) {
		name, body := m[1]+m[2], strings.Join(strings.Fields(m[3]), "")
		if strings.Contains(body, name+"|"+name) || strings.Contains(body, name+"&") && strings.Count(body, name) >= 2 {
			return "fork bomb (a function that spawns copies of itself)"
		}
	}
	if rawDevice.MatchString(norm) {
		return "writes directly onto a disk device"
	}
	for _, words := range simpleCommands(command) {
		if len(words) == 0 {
			continue
		}
		joined := strings.Join(words, " ")
		for _, re := range extra {
			if re.MatchString(joined) {
				return fmt.Sprintf("matches the operator deny pattern %q", re.String())
			}
		}
		if reason := deniedWords(words, extra, depth); reason != "" {
			return reason
		}
	}
	return ""
}

// deniedWords checks one simple command.
func deniedWords(words []string, extra []*regexp.Regexp, depth int) string {
	words = unwrap(words)
	if len(words) == 0 {
		return ""
	}
	name := path.Base(words[0])
	args := words[1:]
	switch {
	case name == "rm":
		flags, targets := splitFlags(args)
		recursive := hasShortFlag(flags, 'r', 'R') || hasLong(flags, "--recursive")
		if hasLong(flags, "--no-preserve-root") {
			return "rm --no-preserve-root (deleting the root file system)"
		}
		if t := critical(targets); recursive && t != "" {
			return fmt.Sprintf("recursive rm of %s", t)
		}
	case name == "chmod" || name == "chown" || name == "chgrp":
		flags, targets := splitFlags(args)
		if hasShortFlag(flags, 'R') || hasLong(flags, "--recursive") {
			if t := critical(targets); t != "" {
				return fmt.Sprintf("recursive %s of %s", name, t)
			}
		}
	case name == "find":
		if len(args) > 0 && critical(args[:1]) != "" {
			for _, a := range args {
				if a == "-delete" {
					return fmt.Sprintf("find %s -delete", args[0])
				}
			}
		}
	case name == "mkfs" || strings.HasPrefix(name, "mkfs.") || name == "mke2fs" || name == "mkswap" || name == "wipefs":
		return fmt.Sprintf("%s formats or wipes a file system", name)
	case name == "fdisk" || name == "sfdisk" || name == "parted" || name == "gdisk":
		return fmt.Sprintf("%s repartitions disks", name)
	case name == "dd":
		for _, a := range args {
			if of, ok := strings.CutPrefix(a, "of="); ok && strings.HasPrefix(path.Clean(of), "/dev/") && !harmlessDevice(of) {
				return "dd onto a device (" + of + ")"
			}
		}
	case name == "shutdown" || name == "reboot" || name == "halt" || name == "poweroff" || name == "telinit":
		return name + " stops or restarts the machine"
	case name == "init":
		if len(args) > 0 && (args[0] == "0" || args[0] == "6") {
			return "init " + args[0] + " stops or restarts the machine"
		}
	case name == "systemctl":
		for _, a := range args {
			switch a {
			case "poweroff", "reboot", "halt", "kexec", "emergency", "rescue":
				return "systemctl " + a + " stops or restarts the machine"
			}
		}
	case name == "kill":
		// kill -9 -1, kill -- -1: pid -1 is every process we may signal.
		for i, a := range args {
			if a == "-1" && i > 0 {
				return "kill of pid -1 (signals every process)"
			}
		}
	case isShell(name):
		for i := 0; i < len(args); i++ {
			a := args[i]
			if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsRune(a, 'c') {
				if i+1 < len(args) {
					return deniedDepth(args[i+1], extra, depth+1)
				}
			}
		}
	case name == "eval":
		return deniedDepth(strings.Join(args, " "), extra, depth+1)
	}
	return ""
}

func isShell(name string) bool {
	switch name {
	case "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "fish", "busybox":
		return true
	}
	return false
}

func harmlessDevice(of string) bool {
	switch path.Clean(of) {
	case "/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/tty":
		return true
	}
	return strings.HasPrefix(path.Clean(of), "/dev/fd/")
}

// unwrap strips leading variable assignments and wrapper commands (sudo,
// env, nohup, time, ...) with their options.
func unwrap(words []string) []string {
	for len(words) > 0 {
		w := words[0]
		if i := strings.IndexByte(w, '='); i > 0 && !strings.HasPrefix(w, "-") && isName(w[:i]) {
			words = words[1:]
			continue
		}
		switch path.Base(w) {
		case "sudo", "doas", "env", "nohup", "time", "command", "builtin", "exec", "nice", "ionice", "stdbuf", "setsid", "chroot", "xargs", "timeout", "unbuffer", "if", "elif", "then", "else", "while", "until", "do", "!":
			base := path.Base(w)
			words = words[1:]
			for len(words) > 0 && strings.HasPrefix(words[0], "-") {
				f := words[0]
				words = words[1:]
				// Options that take a separate value.
				if len(words) > 0 && (base == "sudo" && (f == "-u" || f == "-g" || f == "-C" || f == "-D" || f == "-h" || f == "-p" || f == "-r" || f == "-t" || f == "-U") ||
					base == "nice" && f == "-n" || base == "ionice" && (f == "-c" || f == "-n") || base == "env" && (f == "-u" || f == "-C" || f == "-S") ||
					base == "xargs" && (f == "-I" || f == "-n" || f == "-P" || f == "-d" || f == "-L" || f == "-s" || f == "-E") ||
					base == "timeout" && (f == "-s" || f == "-k")) {
					words = words[1:]
				}
			}
			if base == "timeout" && len(words) > 0 {
				words = words[1:] // the duration
			}
			if base == "chroot" && len(words) > 0 {
				words = words[1:] // the new root
			}
			continue
		}
		break
	}
	return words
}

func isName(s string) bool {
	for i, r := range s {
		if r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return s != ""
}

// splitFlags separates option words from operands ("--" ends options).
func splitFlags(args []string) (flags, operands []string) {
	for i, a := range args {
		if a == "--" {
			return flags, append(operands, args[i+1:]...)
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
		} else {
			operands = append(operands, a)
		}
	}
	return flags, operands
}

func hasShortFlag(flags []string, letters ...rune) bool {
	for _, f := range flags {
		if strings.HasPrefix(f, "--") {
			continue
		}
		for _, l := range letters {
			if strings.ContainsRune(f[1:], l) {
				return true
			}
		}
	}
	return false
}

func hasLong(flags []string, name string) bool {
	for _, f := range flags {
		if f == name || strings.HasPrefix(f, name+"=") {
			return true
		}
	}
	return false
}

// critical returns the first target that names the root, a top-level
// system directory or a home directory, or "".
func critical(targets []string) string {
	for _, t := range targets {
		if isCritical(t) {
			return t
		}
	}
	return ""
}

func isCritical(t string) bool {
	if t == "" {
		return false
	}
	// Globs over a directory's entries are as bad as the directory.
	s := t
	for {
		trimmed := strings.TrimSuffix(strings.TrimSuffix(s, "/*"), "/.*")
		trimmed = strings.TrimSuffix(trimmed, "/.")
		if trimmed == s {
			break
		}
		s = trimmed
		if s == "" {
			s = "/"
		}
	}
	if s == "*" {
		return false
	}
	// Home directories: ~, ~user, $HOME, ${HOME}.
	for _, home := range []string{"$HOME", "${HOME}"} {
		if s == home || s == home+"/" {
			return true
		}
	}
	if strings.HasPrefix(s, "~") {
		rest := strings.TrimSuffix(s[1:], "/")
		return !strings.Contains(rest, "/")
	}
	if !strings.HasPrefix(s, "/") {
		return false
	}
	c := path.Clean(s)
	if criticalPaths[c] {
		return true
	}
	// /home/<user> and /Users/<user> are home directories too.
	dir := path.Dir(c)
	return dir == "/home" || dir == "/Users"
}

// simpleCommands splits a shell command line into simple commands (split
// at ; & | newlines, parentheses, braces, command substitution and
// backquotes) of words with quotes and backslashes removed. It is lenient:
// unbalanced quotes just run to the end.
func simpleCommands(s string) [][]string {
	var (
		cmds  [][]string
		words []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	endWord := func() {
		if inTok {
			words = append(words, cur.String())
			cur.Reset()
			inTok = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs):
				i++
				cur.WriteRune(rs[i])
			case r == '`' || r == '$' && i+1 < len(rs) && rs[i+1] == '(':
				// Command substitution inside double quotes: its text is
				// also checked as a command line of its own.
				end := matchingSub(rs, i)
				inner := rs[i+1 : end]
				if r == '$' {
					inner = rs[i+2 : end]
				}
				cmds = append(cmds, simpleCommands(string(inner))...)
				cur.WriteString(string(rs[i:min(end+1, len(rs))]))
				i = end
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			if i+1 < len(rs) {
				i++
				if rs[i] != '\n' {
					cur.WriteRune(rs[i])
					inTok = true
				}
			}
		case r == '\'' || r == '"':
			quote = r
			inTok = true
		case r == ';' || r == '&' || r == '|' || r == '\n' || r == '(' || r == ')' || r == '`':
			endCmd()
		case r == '$' && i+1 < len(rs) && rs[i+1] == '(':
			endCmd()
			i++
		case (r == '{' || r == '}') && !inTok && (r == '}' || i+1 == len(rs) || isSpace(rs[i+1])):
			// A brace group: "{ cmd; }". Braces inside a word (${HOME},
			// {a,b}) fall through to the default case.
			endCmd()
		case isSpace(r):
			endWord()
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	endCmd()
	return cmds
}

// matchingSub returns the index of the end of the command substitution
// starting at rs[i] (` or $( ), or len(rs)-1.
func matchingSub(rs []rune, i int) int {
	if rs[i] == '`' {
		for j := i + 1; j < len(rs); j++ {
			if rs[j] == '`' {
				return j
			}
		}
		return len(rs) - 1
	}
	depth := 0
	for j := i + 1; j < len(rs); j++ {
		switch rs[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(rs) - 1
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\r' }
