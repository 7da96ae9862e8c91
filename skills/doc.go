// Package skills gives Viber's workers Agent Skills (https://agentskills.io):
// folders of instructions, scripts and references that a model loads only
// when a task needs them.
//
// # Skills on disk
//
// A skill is a folder named like the skill holding a SKILL.md file: YAML
// front matter between "---" lines at the very start (name, description and
// the optional license, compatibility, metadata and allowed-tools), then
// Markdown instructions. Optional scripts/, references/ and assets/ folders
// hold files the instructions point to by relative path.
//
// A daemon finds skills in three roots, and the first skill found with a
// name wins:
//
//  1. <workspace>/.agents/skills - shipped with the project ([SourceWorkspace]);
//  2. ~/.viber/skills - installed by the machine's user ([SourceUser]);
//  3. the built-ins embedded in the binary ([SourceBuiltin]), written to disk
//     by [MaterializeBuiltins] so that their scripts can be run and their
//     references read through the ordinary file and shell tools.
//
// Workspace skills come from the repository being worked on, which may not
// be trusted; a daemon that does not trust its workspace leaves that root
// out.
//
// # Strict and lenient
//
// [Validate] checks one skill folder strictly against the specification and
// lists every problem, each with the field at fault; it backs
// `viber skill validate`. [Load] is what daemons use: it follows the
// specification's client guide and loads whatever can be used, turning each
// problem into a [Warning], and refuses ([ErrUnusable]) only a folder without
// SKILL.md, front matter that cannot be read, or a missing name or
// description. So a skill whose name differs from its folder, or whose
// description is too long, still loads, with a warning.
//
// # Progressive disclosure
//
// [Discover] loads the roots into a [Catalog]. [Catalog.Prompt] is the
// section of the system prompt that lists each skill's name, description and
// SKILL.md location and tells the model to call the activate_skill tool;
// [Catalog.Activate] is that tool's result: the instructions, the skill's
// folder and the list (never the contents) of its resource files. The model
// reads or runs resources itself, when the instructions say so.
//
// # Requirements
//
// The specification has no field for what a skill needs from the machine,
// only the free-text compatibility field. Viber reads two keys of metadata,
// each a list separated by spaces or commas:
//
//	metadata:
//	  requires-bins: git jq     # executables that must be on PATH
//	  requires-env: GITHUB_TOKEN # variables that must be set and non-empty
//
// [Skill.Missing] reports the unmet ones as "binary jq" or "env
// GITHUB_TOKEN", so a daemon can warn, or leave the skill out of the
// catalog. The keys are ordinary metadata to any other client.
//
// # Built-in skills
//
//   - machine-status: report OS, uptime and load, CPU, memory, disks and the
//     busiest processes, with a POSIX report script;
//   - git-workspace: inspect and change a git repository safely, with a
//     read-only snapshot script and a recovery reference;
//   - skill-authoring: write, fix and validate skills, with a template.
package skills
