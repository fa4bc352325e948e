#!/usr/bin/env bash
# Builds fer with AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included) in build-asan/
# and runs the tests there; any sanitizer report fails the run. CI runs it after scripts/test.sh.
# docs/reliability.md ("Sanitizers") has the findings, the timings and the one test left out.
#   FER_SANITIZE_BUILD_DIR   build folder (default build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FER_SANITIZE_BUILD_DIR:-build-asan}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O2 keeps the training tests fast enough; -g1 (line tables) gives file:line, inlined frames included, in
# every report and compiles a third faster than -g.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DFER_SANITIZE=address,undefined \
    -DFER_NATIVE="${FER_NATIVE:-ON}" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

# ASan and LSan reports also go to files: a tool that a test expects to fail (exit 1) could otherwise
# hide a report behind the expected non-zero exit. (GCC's UBSan runtime ignores log_path; its reports go
# to stderr and end the process with exit code 86, which the tests see.)
report_dir=$(mktemp -d "${TMPDIR:-/tmp}/fer-sanitizer-reports.XXXXXX")
trap 'rm -rf "$report_dir"' EXIT
common="halt_on_error=1:exitcode=86:log_path=$report_dir/report"
asan_checks=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export ASAN_OPTIONS="$common:$asan_checks"
export UBSAN_OPTIONS="$common:print_stacktrace=1"

# Left out, and said so: the shipped-models accuracy test evaluates the whole FER2013 test split with
# every shipped model, 13 minutes under ASan, through code the other tests run on small data; it runs in
# scripts/test.sh (which skips it where the data is absent).
slow='shipped models reach the test accuracy'
echo "test-sanitizers: not run under sanitizers (scripts/test.sh runs them):"
(cd "$build_dir" && ctest -N -R "$slow" | grep 'Test *#' || echo "  (none found)")

status=0
(cd "$build_dir" && ctest --output-on-failure -j "$(nproc)" -E "$slow") || status=$?

reports=("$report_dir"/report*)
if [ -e "${reports[0]}" ]; then
    echo "test-sanitizers: ${#reports[@]} sanitizer report(s):" >&2
    cat "${reports[@]}" >&2
    status=1
fi
exit "$status"
