// Package yamlnode holds the small questions the parsers of SKILL.md and
// AGENT.md ask of a YAML node when they report what is wrong with it.
package yamlnode

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Deref follows YAML aliases to the node they name.
func Deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// IsString reports whether n is a string scalar.
func IsString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
}

// KindName describes a node for a problem message: "a list", "the number".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "the boolean"
		case "!!int", "!!float":
			return "the number"
		case "!!str":
			return "the string"
		case "!!timestamp":
			return "the timestamp"
		}
		return "the value"
	}
	return "an unexpected value"
}

// errLine matches the line numbers in yaml.v3 error messages.
var errLine = regexp.MustCompile(`\bline (\d+)\b`)

// ErrorMessage shortens a yaml.v3 error for a problem message, with its
// line numbers moved by offset: counted in the file rather than in the
// front matter that was parsed.
func ErrorMessage(err error, offset int) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return errLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(strings.TrimPrefix(m, "line "))
		if err != nil {
			return m
		}
		return "line " + strconv.Itoa(n+offset)
	})
}
