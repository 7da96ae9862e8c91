#!/bin/sh
# snapshot.sh - print where a git repository stands, without changing it:
# top-level folder, branch and upstream, operations in progress (merge,
# rebase, cherry-pick, bisect), a summary of staged, unstaged, untracked and
# conflicted files, stashes, recent commits and remotes.
#
# Usage: sh snapshot.sh [DIR]     DIR = a folder inside the repository (default .)
#
# Read-only: it does not fetch, and it asks git not to take optional locks so
# it never competes with another git command. Exit status 1 means DIR is not
# inside a git work tree, 2 means git is not installed.

set -u
LC_ALL=C
GIT_OPTIONAL_LOCKS=0
GIT_PAGER=cat
export LC_ALL GIT_OPTIONAL_LOCKS GIT_PAGER

dir=${1:-.}
if ! command -v git >/dev/null 2>&1; then
	echo "git is not installed" >&2
	exit 2
fi
cd "$dir" 2>/dev/null || {
	echo "cannot enter $dir" >&2
	exit 1
}
if [ "$(git rev-parse --is-inside-work-tree 2>/dev/null)" != true ]; then
	echo "$(pwd) is not inside a git work tree" >&2
	exit 1
fi

g() { git --no-pager "$@"; }
section() { printf '\n== %s ==\n' "$1"; }
kv() { printf '%-12s %s\n' "$1:" "$2"; }

top=$(g rev-parse --show-toplevel)
gitdir=$(g rev-parse --absolute-git-dir 2>/dev/null || g rev-parse --git-dir)
cd "$top" || exit 1
has_head=false
g rev-parse -q --verify HEAD >/dev/null 2>&1 && has_head=true

section "Repository"
kv top-level "$top"
if branch=$(g symbolic-ref --short -q HEAD); then
	if $has_head; then
		kv branch "$branch"
	else
		kv branch "$branch (no commits yet)"
	fi
else
	kv branch "(detached HEAD at $(g rev-parse --short HEAD))"
fi
if $has_head; then
	if upstream=$(g rev-parse --abbrev-ref --symbolic-full-name '@{u}' 2>/dev/null); then
		set -- $(g rev-list --left-right --count "$upstream...HEAD" 2>/dev/null)
		kv upstream "$upstream (ahead ${2:-?}, behind ${1:-?}; as of the last fetch)"
	else
		kv upstream "none"
	fi
fi

ops=""
[ -f "$gitdir/MERGE_HEAD" ] && ops="$ops merge"
{ [ -d "$gitdir/rebase-merge" ] || [ -d "$gitdir/rebase-apply" ]; } && ops="$ops rebase"
[ -f "$gitdir/CHERRY_PICK_HEAD" ] && ops="$ops cherry-pick"
[ -f "$gitdir/REVERT_HEAD" ] && ops="$ops revert"
[ -f "$gitdir/BISECT_LOG" ] && ops="$ops bisect"
if [ -n "$ops" ]; then
	kv "IN PROGRESS" "$ops (finish it with --continue or back out with --abort before anything else)"
fi
if [ -f "$gitdir/index.lock" ]; then
	kv "LOCKED" "$gitdir/index.lock exists: another git command is running, or one crashed"
fi

section "Working tree"
status=$(g status --porcelain=v1 -uall 2>/dev/null)
if [ -z "$status" ]; then
	echo "clean"
else
	printf '%s\n' "$status" | awk '
		{ x = substr($0, 1, 1); y = substr($0, 2, 1) }
		x == "?" { untracked++; next }
		x == "!" { next }
		(x == "U" || y == "U" || (x == "A" && y == "A") || (x == "D" && y == "D")) { conflicted++; next }
		{ if (x != " ") staged++; if (y != " ") unstaged++ }
		END { printf "staged %d, unstaged %d, untracked %d, conflicted %d\n", staged, unstaged, untracked, conflicted }'
	printf '%s\n' "$status" | head -n 40
	total=$(printf '%s\n' "$status" | wc -l | tr -d ' ')
	[ "$total" -gt 40 ] && echo "... and $((total - 40)) more (git status --short)"
	staged_stat=$(g diff --cached --shortstat 2>/dev/null)
	unstaged_stat=$(g diff --shortstat 2>/dev/null)
	[ -n "$staged_stat" ] && kv staged "$staged_stat"
	[ -n "$unstaged_stat" ] && kv unstaged "$unstaged_stat"
fi

stashes=$(g stash list 2>/dev/null | head -n 5)
if [ -n "$stashes" ]; then
	section "Stashes (newest first)"
	printf '%s\n' "$stashes"
fi

if $has_head; then
	section "Recent commits"
	g log --oneline --decorate -n 10
fi

remotes=$(g remote -v 2>/dev/null | awk '$3 == "(fetch)" { print $1, $2 }' | sed 's#://[^/@]*@#://#')
if [ -n "$remotes" ]; then
	section "Remotes (fetch URLs, credentials removed)"
	printf '%s\n' "$remotes"
fi
exit 0
