#!/bin/sh
# report.sh - print a read-only snapshot of this machine's health: host and
# OS, uptime and load, CPU, memory, disks and the busiest processes.
#
# Usage: sh report.sh [N]     N = processes to list per table (default 10)
#
# POSIX sh; works on Linux and macOS and mostly on the BSDs. It changes
# nothing, needs no root, and a section whose tools are missing says so
# instead of failing. It takes about a second (it samples CPU use). Process
# tables show the command name only, never arguments, which may hold secrets.

set -u
LC_ALL=C
export LC_ALL

n=${1:-10}
case $n in
'' | *[!0-9]*)
	echo "usage: sh report.sh [number-of-processes]" >&2
	exit 2
	;;
esac

have() { command -v "$1" >/dev/null 2>&1; }
section() { printf '\n== %s ==\n' "$1"; }
kv() { printf '%-16s %s\n' "$1:" "$2"; }

os=$(uname -s 2>/dev/null || echo unknown)
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo "?")

section "Host"
kv hostname "$(hostname 2>/dev/null || uname -n)"
kv kernel "$(uname -srm 2>/dev/null)"
if [ -r /etc/os-release ]; then
	kv os "$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
elif have sw_vers; then
	kv os "$(sw_vers -productName) $(sw_vers -productVersion)"
fi
kv "time (UTC)" "$(date -u '+%Y-%m-%d %H:%M:%S')"

section "Uptime and load"
if [ -r /proc/uptime ]; then
	kv uptime "$(awk '{ s = int($1); printf "%dd %dh %dm", s / 86400, s % 86400 / 3600, s % 3600 / 60 }' /proc/uptime)"
elif have uptime; then
	kv uptime "$(uptime | sed 's/.*up *//; s/, *[0-9]* users*.*//; s/, *load.*//')"
fi
if [ -r /proc/loadavg ]; then
	load=$(cut -d' ' -f1-3 /proc/loadavg)
else
	load=$(sysctl -n vm.loadavg 2>/dev/null | tr -d '{}' | awk '{ print $1, $2, $3 }')
fi
if [ -n "${load:-}" ]; then
	kv "load 1/5/15m" "$load"
	kv cpus "$cpus"
	case $cpus in
	*[!0-9]* | '') ;;
	*) kv "load per cpu" "$(echo "$load" | awk -v c="$cpus" '{ printf "%.2f (1 min; above 1.00 means work is queueing)", $1 / c }')" ;;
	esac
else
	echo "load: unavailable"
fi

section "CPU"
model=""
if [ -r /proc/cpuinfo ]; then
	model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
fi
[ -z "$model" ] && model=$(sysctl -n machdep.cpu.brand_string 2>/dev/null || sysctl -n hw.model 2>/dev/null || true)
[ -n "$model" ] && kv model "$model"
if have vmstat && [ "$os" = Linux ]; then
	# Second sample of "vmstat 1 2" covers the last second.
	vmstat 1 2 | awk 'NR == 2 { for (i = 1; i <= NF; i++) col[$i] = i }
		END { printf "%-16s user %s%%  system %s%%  idle %s%%  iowait %s%%\n", "usage (1 s):", $col["us"], $col["sy"], $col["id"], $col["wa"] }'
elif have top && [ "$os" = Darwin ]; then
	top -l 2 -n 0 -s 1 2>/dev/null | grep 'CPU usage' | tail -n 1 | sed 's/^CPU usage: */usage (1 s):     /'
else
	echo "usage: unavailable"
fi

section "Memory"
if [ -r /proc/meminfo ]; then
	awk '/^(MemTotal|MemAvailable|SwapTotal|SwapFree):/ { v[substr($1, 1, length($1) - 1)] = $2 }
		function gib(k) { return sprintf("%.1f GiB", k / 1048576) }
		END {
			printf "%-16s %s\n", "total:", gib(v["MemTotal"])
			if (v["MemTotal"] > 0)
				printf "%-16s %s (%.0f%%)\n", "available:", gib(v["MemAvailable"]), 100 * v["MemAvailable"] / v["MemTotal"]
			if (v["SwapTotal"] > 0)
				printf "%-16s %s of %s\n", "swap used:", gib(v["SwapTotal"] - v["SwapFree"]), gib(v["SwapTotal"])
			else
				printf "%-16s none\n", "swap:"
		}' /proc/meminfo
elif [ "$os" = Darwin ]; then
	kv total "$(sysctl -n hw.memsize 2>/dev/null | awk '{ printf "%.1f GiB", $1 / 1073741824 }')"
	if have memory_pressure; then
		kv "free (approx.)" "$(memory_pressure 2>/dev/null | sed -n 's/.*free percentage: *//p')"
	fi
	kv swap "$(sysctl -n vm.swapusage 2>/dev/null)"
else
	echo "memory: unavailable"
fi

section "Disks"
if have df; then
	df -hP 2>/dev/null | awk 'NR == 1 { print; next }
		$1 ~ /^(tmpfs|devtmpfs|udev|overlay|shm|none|devfs|map .*)$/ { next }
		$6 ~ /^\/(proc|sys|dev|run)(\/|$)/ { next }
		{ mark = ($5 + 0 >= 90) ? "   <-- nearly full" : ""; print $0 mark }'
	if [ "$os" = Linux ]; then
		full=$(df -iP 2>/dev/null | awk 'NR > 1 && $5 + 0 >= 90 { print "  " $6 " inodes " $5 " used" }')
		if [ -n "$full" ]; then
			echo "inodes nearly exhausted:"
			echo "$full"
		fi
	fi
else
	echo "disks: df not found"
fi

# top_procs COLUMN TITLE: the n processes using the most of COLUMN (4 = cpu,
# 6 = resident memory), leaving out this script and its helpers. Command
# names only.
top_procs() {
	section "$2"
	printf '%7s %-10s %5s %5s %9s %12s  %s\n' PID USER %CPU %MEM RSS-MiB ELAPSED COMMAND
	ps -A -o pid= -o ppid= -o user= -o pcpu= -o pmem= -o rss= -o etime= -o comm= 2>/dev/null |
		awk -v self="$$" '$1 != self && $2 != self' |
		sort -k "$1,$1" -rn | head -n "$n" |
		awk '{ cmd = $8; for (i = 9; i <= NF; i++) cmd = cmd " " $i
			printf "%7s %-10.10s %5s %5s %9.1f %12s  %s\n", $1, $3, $4, $5, $6 / 1024, $7, cmd }'
}
if have ps; then
	top_procs 4 "Top processes by CPU"
	top_procs 6 "Top processes by memory"
	zombies=$(ps -A -o stat= 2>/dev/null | grep -c '^Z')
	[ "${zombies:-0}" -gt 0 ] && printf '\n%s zombie process(es)\n' "$zombies"
else
	section "Processes"
	echo "ps not found"
fi

if have systemctl && [ -d /run/systemd/system ]; then
	failed=$(systemctl --failed --no-legend --plain 2>/dev/null | awk '{ print "  " $1 }')
	if [ -n "$failed" ]; then
		section "Failed systemd units"
		echo "$failed"
	fi
fi
exit 0
