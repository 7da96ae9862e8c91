package skills_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/viberhq/viber/skills"
)

func TestBuiltins(t *testing.T) {
	t.Parallel()
	names := skills.BuiltinNames()
	if want := []string{"git-workspace", "machine-status", "skill-authoring"}; !slices.Equal(names, want) {
		t.Fatalf("BuiltinNames = %q, want %q", names, want)
	}
	dir := filepath.Join(t.TempDir(), "builtin")
	root, err := skills.MaterializeBuiltins(dir)
	if err != nil {
		t.Fatal(err)
	}
	if root.Dir != dir || root.Source != skills.SourceBuiltin {
		t.Errorf("root = %+v", root)
	}
	for _, name := range names {
		if problems := skills.Validate(filepath.Join(dir, name)); problems != nil {
			t.Errorf("built-in %s breaks the specification: %v", name, problems)
		}
	}
	for _, script := range []string{"machine-status/scripts/report.sh", "git-workspace/scripts/snapshot.sh"} {
		fi, err := os.Stat(filepath.Join(dir, script))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, err %v", script, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "machine-status", "SKILL.md")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("SKILL.md: mode %v, err %v", fi.Mode(), err)
	}

	c, warnings := skills.Discover(root)
	if !slices.Equal(c.Names(), names) || len(warnings) != 0 {
		t.Errorf("Discover: names %q, warnings %v", c.Names(), warnings)
	}
	for _, s := range c.List() {
		if s.Source != skills.SourceBuiltin || s.Body() == "" {
			t.Errorf("%s: source %q, body %d bytes", s.Name, s.Source, len(s.Body()))
		}
		// Every relative file a built-in mentions must ship with it.
		for _, f := range []string{"scripts/report.sh", "scripts/snapshot.sh", "references/recovery.md", "assets/SKILL.template.md"} {
			if strings.Contains(s.Body(), f) {
				if _, err := os.Stat(filepath.Join(s.Dir, f)); err != nil {
					t.Errorf("%s mentions %s: %v", s.Name, f, err)
				}
			}
		}
	}
	if s, _ := c.Get("git-workspace"); !slices.Equal(must(s.Requires()), []string{"git"}) {
		t.Errorf("git-workspace requires %q", must(s.Requires()))
	}
}

func must(bins, _ []string) []string { return bins }

func TestMaterializeBuiltinsIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := skills.MaterializeBuiltins(dir); err != nil {
		t.Fatal(err)
	}
	skillMD := filepath.Join(dir, "machine-status", "SKILL.md")
	script := filepath.Join(dir, "machine-status", "scripts", "report.sh")
	orig, err := os.ReadFile(skillMD)
	if err != nil {
		t.Fatal(err)
	}
	// Leave it untouched when nothing changed.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(skillMD, old, old); err != nil {
		t.Fatal(err)
	}
	// Damage: edited file, lost executable bit, stale file and folder, and
	// an unrelated user folder that must survive.
	if err := os.WriteFile(filepath.Join(dir, "git-workspace", "SKILL.md"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(script, 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "machine-status", "scripts", "old.sh")
	staleDir := filepath.Join(dir, "machine-status", "legacy")
	mine := writeSkill(t, dir, "mine", doc("name: mine", "description: Mine."), nil)
	for _, p := range []string{stale, filepath.Join(staleDir, "x.md")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := skills.MaterializeBuiltins(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(skillMD); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("unchanged file was rewritten: %v, %v", fi.ModTime(), err)
	}
	if b, _ := os.ReadFile(skillMD); !bytes.Equal(b, orig) {
		t.Error("unchanged file differs")
	}
	if problems := skills.Validate(filepath.Join(dir, "git-workspace")); problems != nil {
		t.Errorf("edited built-in not restored: %v", problems)
	}
	if fi, err := os.Stat(script); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("script mode not restored: %v, %v", fi.Mode(), err)
	}
	for _, p := range []string{stale, staleDir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", p, err)
		}
	}
	if problems := skills.Validate(mine); problems != nil {
		t.Errorf("user folder touched: %v", problems)
	}
}

// TestBuiltinScripts runs the shipped scripts on this machine: they must
// exit 0 and print their sections.
func TestBuiltinScripts(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	if _, err := skills.MaterializeBuiltins(dir); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, script string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, sh, append([]string{filepath.Join(dir, script)}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}

	t.Run("machine-status", func(t *testing.T) {
		t.Parallel()
		out := run(t, "machine-status/scripts/report.sh", "3")
		for _, want := range []string{"== Host ==", "== Uptime and load ==", "== Memory ==", "== Disks ==", "== Top processes by CPU =="} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("git-workspace", func(t *testing.T) {
		t.Parallel()
		git, err := exec.LookPath("git")
		if err != nil {
			t.Skip("no git")
		}
		repo := t.TempDir()
		for _, args := range [][]string{
			{"init", "-q"},
			{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first"},
			{"remote", "add", "origin", "https://user:secret@example.com/r.git"},
		} {
			if out, err := exec.Command(git, append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		if err := os.WriteFile(filepath.Join(repo, "new.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := run(t, "git-workspace/scripts/snapshot.sh", repo)
		for _, want := range []string{"== Repository ==", "untracked 1", "first", "https://example.com/r.git"} {
			if !strings.Contains(out, want) {
				t.Errorf("snapshot lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "secret") {
			t.Errorf("snapshot leaks a credential:\n%s", out)
		}
	})
}
