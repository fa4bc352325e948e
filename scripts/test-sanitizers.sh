#!/usr/bin/env bash
# Builds fer with AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included) in build-asan/
# and runs every test there. Any sanitizer report, in a test binary or in a tool a test starts, fails
# the run. CI runs it after scripts/test.sh; docs/reliability.md has the findings and the timings.
#   FER_SANITIZE_BUILD_DIR   build folder (default build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FER_SANITIZE_BUILD_DIR:-build-asan}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# RelWithDebInfo: -O2 keeps the training tests fast enough, -g gives file:line in every report.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFER_SANITIZE=address,undefined \
    -DFER_NATIVE="${FER_NATIVE:-ON}" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

# Reports go to files as well as failing the process: a tool that a test expects to fail (exit 1)
# could otherwise hide a report behind the expected non-zero exit. The distinct exit code makes a
# sanitizer abort recognisable in ctest's output.
report_dir=$(mktemp -d "${TMPDIR:-/tmp}/fer-sanitizer-reports.XXXXXX")
trap 'rm -rf "$report_dir"' EXIT
common="halt_on_error=1:exitcode=86:log_path=$report_dir/report"
export ASAN_OPTIONS="$common:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="$common:print_stacktrace=1"

status=0
(cd "$build_dir" && ctest --output-on-failure -j "$(nproc)") || status=$?

reports=("$report_dir"/report*)
if [ -e "${reports[0]}" ]; then
    echo "test-sanitizers: ${#reports[@]} sanitizer report(s):" >&2
    cat "${reports[@]}" >&2
    status=1
fi
exit "$status"
