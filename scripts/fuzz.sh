#!/usr/bin/env bash
# Fuzzes fer's readers with libFuzzer (docs/reliability.md, tests/fuzz/): builds the targets with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, runs each for SECONDS on a working corpus outside the
# repository (seeded from tests/fuzz/seeds/), copies every crash, timeout or out-of-memory input into
# tests/fuzz/regression/<target>/ (which ctest replays) and prints a summary table.
#
#   scripts/fuzz.sh SECONDS [TARGET...]    targets: model_file image csv mood_map http (default: all)
#
# Environment: FER_FUZZ_BUILD_DIR (default build-fuzz), FER_FUZZ_CORPUS_DIR (default /var/tmp/fer-fuzz).
# Exit status: 0 when nothing was found, 1 when a target found something, 2 on a usage or build error.
set -euo pipefail

all_targets=(model_file image csv mood_map http)
usage() {
  echo "usage: scripts/fuzz.sh SECONDS [TARGET...]  (targets: ${all_targets[*]})" >&2
  exit 2
}
[ $# -ge 1 ] || usage
seconds=$1
shift
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
  echo "fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
  usage
}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target '$target'" >&2; usage; }
done

cd "$(dirname "$0")/.."
repo=$(pwd)
build_dir=${FER_FUZZ_BUILD_DIR:-build-fuzz}
corpus_root=${FER_FUZZ_CORPUS_DIR:-/var/tmp/fer-fuzz}

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found; run scripts/install-deps.sh" >&2; exit 2; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# RelWithDebInfo: optimised like the real build, with line numbers in the sanitizer reports.
CXX=clang++ cmake -S "$repo" -B "$build_dir" -G Ninja -DFER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${launcher[@]}" >/dev/null || exit 2
cmake --build "$build_dir" --target "${targets[@]/#/fuzz_}" || exit 2

# The slow targets (tens of inputs a second) start at their full length: libFuzzer's default grows the
# length with the number of inputs run, and would keep them to a few hundred bytes in a short run.
len_control_of() {
  case $1 in
    image | http) echo 0 ;;
    *) echo 100 ;;
  esac
}

# Inputs are capped so that iterations stay quick: each limit fits the seeds with
# room to grow (a fer2013.csv row is about 8 KB of text).
max_len_of() {
  case $1 in
    model_file) echo 8192 ;;
    image) echo 16384 ;;
    csv) echo 20000 ;;
    mood_map) echo 2048 ;;
    http) echo 4096 ;;
  esac
}

summary=()
found_any=0
for target in "${targets[@]}"; do
  corpus="$corpus_root/$target"
  artifacts="$corpus_root/$target-findings"
  log="$corpus_root/$target.log"
  regression="$repo/tests/fuzz/regression/$target"
  mkdir -p "$corpus" "$artifacts"
  started=$(mktemp)
  extra_corpora=("$repo/tests/fuzz/seeds/$target")
  [ -d "$regression" ] && extra_corpora+=("$regression")
  dict=()
  [ -f "$repo/tests/fuzz/dictionaries/$target.dict" ] && dict=(-dict="$repo/tests/fuzz/dictionaries/$target.dict")
  echo "fuzz.sh: $target for ${seconds} s (log: $log)"
  # A single allocation over 512 MB from an input of a few KB is a finding, as is an input that takes
  # over 25 s.
  status=0
  "$build_dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len="$(max_len_of "$target")" \
    -len_control="$(len_control_of "$target")" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" "${extra_corpora[@]}" \
    >"$log" 2>&1 || status=$?
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus_size=$(find "$corpus" -type f | wc -l)
  findings=()
  # slow-unit-* files (an input over 10 s) are only reported; the findings are crashes (sanitizer reports
  # and aborts included), timeouts, out-of-memory and leaks.
  while IFS= read -r finding; do
    findings+=("$finding")
  done < <(find "$artifacts" -type f -newer "$started" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \
    -o -name 'leak-*' \))
  slow=$(find "$artifacts" -type f -newer "$started" -name 'slow-unit-*' | wc -l)
  rm -f "$started"
  crashes=${#findings[@]}
  if [ "$crashes" -gt 0 ] || [ "$status" -ne 0 ]; then
    found_any=1
    mkdir -p "$regression"
    [ "$crashes" -eq 0 ] || cp -n "${findings[@]}" "$regression/"
    echo "fuzz.sh: $target found something (exit $status); inputs copied to tests/fuzz/regression/$target/" >&2
    grep -a -m 3 -E 'ERROR: |FUZZ FINDING|runtime error' "$log" >&2 || true
  fi
  summary+=("$(printf '%-12s %8s %12s %8s %8s %6s %6s' "$target" "$seconds" "${executions:-?}" "$corpus_size" \
    "$crashes" "$slow" "$status")")
done

echo
printf '%-12s %8s %12s %8s %8s %6s %6s\n' target seconds executions corpus crashes slow exit
for line in "${summary[@]}"; do echo "$line"; done
exit $found_any
