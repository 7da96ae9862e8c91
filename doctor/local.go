package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/viberhq/viber/skills"
)

// Free space limits of the store's disk.
const (
	diskFail = 256 << 20
	diskWarn = 2 << 30
)

// checkSkills validates every skill folder in dirs strictly.
func checkSkills(dirs []string) Check {
	c := Check{Name: "skills", Status: OK}
	var good, bad, absent []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			absent = append(absent, dir)
			continue
		}
		if err != nil {
			bad = append(bad, dir)
			c.Details = append(c.Details, err.Error())
			continue
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			sd := filepath.Join(dir, e.Name())
			problems := skills.Validate(sd)
			if len(problems) == 0 {
				good = append(good, e.Name())
				continue
			}
			bad = append(bad, sd)
			for _, p := range problems {
				c.Details = append(c.Details, p.Error())
			}
		}
	}
	switch {
	case len(bad) > 0:
		c.Status = Fail
		c.Message = fmt.Sprintf("%s with problems (%d valid)", count(uint64(len(bad)), "skill folder"), len(good))
		c.Fix = "fix them (`viber skill validate " + bad[0] + "` lists the problems) or move them out"
	case len(good) == 0:
		c.Message = "no skills installed besides the built-in ones"
		if len(dirs) > 0 {
			c.Message += " (in " + strings.Join(dirs, ", ") + ")"
		}
	default:
		c.Message = fmt.Sprintf("%d valid: %s", len(good), strings.Join(good, ", "))
	}
	if len(absent) > 0 && len(absent) == len(dirs) && c.Status == OK {
		c.Message += "; " + strings.Join(absent, ", ") + " missing"
		c.Status, c.Fix = Warn, "run `viber init` to create the skills folders"
	}
	return c
}

// checkDisk reports the free space of the disk holding dir (or its nearest
// existing parent).
func checkDisk(dir string) Check {
	c := Check{Name: "disk"}
	at := dir
	for {
		if _, err := os.Stat(at); err == nil {
			break
		}
		parent := filepath.Dir(at)
		if parent == at {
			break
		}
		at = parent
	}
	free, total, err := diskSpace(at)
	if err != nil {
		c.Status, c.Message = Warn, "free space not measured: "+err.Error()
		c.Fix = "check the disk of " + dir + " by hand"
		return c
	}
	where := dir
	if at != dir {
		where = dir + " (not created yet; its disk at " + at + ")"
	}
	c.Message = fmt.Sprintf("%s free of %s for the store %s", bytesText(free), bytesText(total), where)
	switch {
	case free < diskFail:
		c.Status = Fail
		c.Fix = "free space on that disk or move the store (--data / VIBER_DATA): JetStream stops writing when the disk is full"
	case free < diskWarn || (total > 0 && free < total/20):
		c.Status = Warn
		c.Fix = "free space soon: JetStream stops writing when the disk is full"
	default:
		c.Status = OK
	}
	return c
}
