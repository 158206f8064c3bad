#!/usr/bin/env bash
# files-vs-croc.sh: sp2p send/receive against croc through its own relay,
# both on loopback, same files, same tmpfs, alternating runs.
#
#   testdata/bench/files-vs-croc.sh [SIZES_MIB] [RUNS]
#   testdata/bench/files-vs-croc.sh "200 2048" 3
#
# Needs: go (builds ./cmd/sp2p from this checkout), croc on PATH or in
# $(go env GOPATH)/bin (GOFLAGS= go install github.com/schollz/croc/v10@latest),
# /usr/bin/time. Prints one line per run and a median/min/max summary per
# size and tool: wall seconds of the whole transfer (start of both
# processes to the end of both: start-up, connecting and the
# transfer), CPU seconds (user + system) of the sender and of the receiver,
# and peak RSS; for croc also the CPU seconds its relay spent. Before the
# runs of each size, how long sp2p send takes to have its invitation out
# (what a person waits for before anything happens). With
# SP2P_OLD=DIR (another checkout of sp2p, such as the commit before a
# change) that build runs too, as "old", in the same alternation.
# Everything happens under one temporary directory on
# /dev/shm (tmpfs) when it exists, deleted at the end; croc's relay runs on
# 127.0.0.1 ports 19409-19413 and is stopped at the end.
set -euo pipefail

sizes=${1:-"200 2048"}
runs=${2:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/sp2p-bench-files.XXXXXX")
relay_pid=""
cleanup() {
	if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

croc=$(command -v croc || true)
[ -n "$croc" ] || croc="$(go env GOPATH)/bin/croc"
[ -x "$croc" ] || { echo "croc not found: GOFLAGS= go install github.com/schollz/croc/v10@latest" >&2; exit 1; }

echo "building sp2p from $repo" >&2
(cd "$repo" && go build -o "$work/sp2p" ./cmd/sp2p)
sp2p=$work/sp2p
tools="sp2p croc"
if [ -n "${SP2P_OLD:-}" ]; then
	echo "building the old sp2p from $SP2P_OLD" >&2
	(cd "$SP2P_OLD" && go build -o "$work/sp2p-old" ./cmd/sp2p)
	tools="sp2p croc old"
fi
for who in a b; do
	mkdir -p "$work/home-$who"
	HOME=$work/home-$who "$sp2p" keygen --no-passphrase >/dev/null 2>&1
done

ports=19409,19410,19411,19412,19413
"$croc" relay --host 127.0.0.1 --ports "$ports" >"$work/relay.log" 2>&1 &
relay_pid=$!
sleep 1

timed() { # timed OUT CMD...: run CMD, write "wall user sys maxrss_kib" to OUT
	local out=$1; shift
	/usr/bin/time -o "$out" -f '%e %U %S %M' "$@"
}

run_sp2p() { # run_sp2p FILE [BINARY NAME]
	local f=$1 d=$work/run bin=${2:-$sp2p} name=${3:-sp2p}
	rm -rf "$d"; mkdir -p "$d/out"
	local tok=(--offer-file "$d/offer" --answer-file "$d/answer" --yes --loopback)
	local t0; t0=$(date +%s.%N)
	HOME=$work/home-a timed "$d/ts" "$bin" send "${tok[@]}" "$f" >"$d/send.log" 2>&1 &
	local sp=$!
	HOME=$work/home-b timed "$d/tr" "$bin" receive "${tok[@]}" --out "$d/out" >"$d/recv.log" 2>&1 &
	local rp=$!
	wait $sp || { echo "sp2p send failed:" >&2; cat "$d/send.log" >&2; exit 1; }
	wait $rp || { echo "sp2p receive failed:" >&2; cat "$d/recv.log" >&2; exit 1; }
	local t1; t1=$(date +%s.%N)
	cmp -s "$f" "$d/out/$(basename "$f")" || { echo "$name: the received file differs" >&2; exit 1; }
	report "$name" "$t0" "$t1" "$d/ts" "$d/tr" 0
}

run_croc() { # run_croc FILE
	local f=$1 d=$work/run
	rm -rf "$d"; mkdir -p "$d/out" "$d/hs" "$d/hr"
	local code="sp2p-bench-$RANDOM-$RANDOM"
	local r0; r0=$(relay_ticks)
	local t0; t0=$(date +%s.%N)
	HOME=$d/hs CROC_SECRET=$code timed "$d/ts" "$croc" --yes --relay 127.0.0.1:19409 --pass pass123 \
		send --no-local --code "$code" "$f" >"$d/send.log" 2>&1 &
	local sp=$!
	# The receiver must come after the sender is at the relay, which is
	# after croc has hashed the file (its own pass before sending).
	for _ in $(seq 1200); do
		grep -q 'Code is' "$d/send.log" 2>/dev/null && break
		kill -0 $sp 2>/dev/null || break
		sleep 0.05
	done
	(cd "$d/out" && HOME=$d/hr CROC_SECRET=$code timed "$d/tr" "$croc" --yes --overwrite --relay 127.0.0.1:19409 \
		--pass pass123 --out "$d/out" >"$d/recv.log" 2>&1) &
	local rp=$!
	wait $sp || { echo "croc send failed:" >&2; cat "$d/send.log" >&2; exit 1; }
	wait $rp || { echo "croc receive failed:" >&2; cat "$d/recv.log" >&2; exit 1; }
	local t1; t1=$(date +%s.%N)
	cmp -s "$f" "$d/out/$(basename "$f")" || { echo "croc: the received file differs" >&2; exit 1; }
	local r1; r1=$(relay_ticks)
	report croc "$t0" "$t1" "$d/ts" "$d/tr" "$(echo "scale=2; ($r1 - $r0) / $(getconf CLK_TCK)" | bc)"
}

offer_ready() { # offer_ready FILE BINARY NAME: seconds until sp2p send has its invitation out
	local f=$1 bin=$2 d=$work/offer
	rm -rf "$d"; mkdir -p "$d"
	local t0; t0=$(date +%s.%N)
	HOME=$work/home-a "$bin" send --offer-file "$d/offer" --answer-file "$d/answer" --yes --loopback "$f" >/dev/null 2>&1 &
	local pid=$!
	while [ ! -s "$d/offer" ] && kill -0 $pid 2>/dev/null; do sleep 0.005; done
	local t1; t1=$(date +%s.%N)
	kill $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	printf '%-5s %6s MiB  invitation out after %.3f s\n' "$3" "$size" "$(echo "$t1 - $t0" | bc)"
}

relay_ticks() { # user + system clock ticks of the croc relay so far
	awk '{print $14 + $15}' "/proc/$relay_pid/stat"
}

results=$work/results
report() { # report TOOL T0 T1 SENDTIME RECVTIME RELAYCPU
	local wall; wall=$(echo "$3 - $2" | bc)
	read -r _ su ss sm <"$4"
	read -r _ ru rs rm <"$5"
	local scpu rcpu
	scpu=$(echo "$su + $ss" | bc); rcpu=$(echo "$ru + $rs" | bc)
	printf '%-5s %6s MiB  wall %6.2f s  cpu send %6.2f s  recv %6.2f s  relay %5.2f s  rss send %4d MiB  recv %4d MiB\n' \
		"$1" "$size" "$wall" "$scpu" "$rcpu" "$6" $((sm / 1024)) $((rm / 1024))
	echo "$1 $size $wall $scpu $rcpu $6" >>"$results"
}

echo "machine: $(nproc) cores, $(uname -sr); files on $base; $(date -u +%FT%TZ)"
for size in $sizes; do
	f=$work/file-$size.bin
	head -c $((size << 20)) /dev/urandom >"$f"
	offer_ready "$f" "$sp2p" sp2p
	if [ -n "${SP2P_OLD:-}" ]; then offer_ready "$f" "$work/sp2p-old" old; fi
	for i in $(seq "$runs"); do
		order=$tools
		if [ $((i % 2)) -eq 0 ]; then order=$(echo "$tools" | tr ' ' '\n' | tac | tr '\n' ' '); fi
		for tool in $order; do
			case $tool in
			sp2p) run_sp2p "$f" ;;
			old) run_sp2p "$f" "$work/sp2p-old" old ;;
			croc) run_croc "$f" ;;
			esac
		done
	done
	rm -f "$f"
done

echo
echo "medians (min-max) over $runs runs:"
python3 - "$results" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
keys = []
for r in rows:
    if (r[0], r[1]) not in keys:
        keys.append((r[0], r[1]))
for tool, size in keys:
    sel = [list(map(float, r[2:])) for r in rows if (r[0], r[1]) == (tool, size)]
    out = []
    for i, name in enumerate(["wall", "cpu send", "cpu recv", "relay"]):
        v = [s[i] for s in sel]
        out.append(f"{name} {statistics.median(v):.2f} s ({min(v):.2f}-{max(v):.2f})")
    print(f"{tool:5} {size:>5} MiB  " + "  ".join(out))
EOF
