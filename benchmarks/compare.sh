#!/usr/bin/env bash
# Runs fer-bench and the PyTorch reference on the same cells and prints ours / PyTorch for each.
#
#   benchmarks/compare.sh [--quick] [--threads 1,2] [--models five_layer,gap]
#
# FER_BENCH names the fer-bench binary (default: build/fer-bench, then fer-bench on PATH); OUT_DIR keeps
# the two JSON files (default: a temporary folder); PYTHON names the interpreter that has torch
# (default python3; Debian's python3-torch is in /usr/bin/python3). When `import torch` fails, the PyTorch figures
# recorded on a quiet machine of this kind (../shared/notes/measurements.md, 2 threads) are used
# instead and the table says so. Ratios above 1 mean fer is faster (for latency: lower is better, so
# the ratio is PyTorch's latency over ours).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bench="${FER_BENCH:-}"
if [[ -z "$bench" ]]; then
    bench="$root/build/fer-bench"
    [[ -x "$bench" ]] || bench="$(command -v fer-bench || true)"
fi
if [[ -z "$bench" || ! -x "$bench" ]]; then
    echo "compare.sh: fer-bench not found; build it (cmake --build build --target fer-bench) or set FER_BENCH" >&2
    exit 1
fi
out_dir="${OUT_DIR:-$(mktemp -d)}"
python="${PYTHON:-python3}"
mkdir -p "$out_dir"

echo "== fer-bench ($bench) $*"
"$bench" --json "$out_dir/fer.json" "$@"
echo
echo "== PyTorch reference"
if "$python" -c "import torch" 2>/dev/null; then
    "$python" "$here/torch_reference.py" --json "$out_dir/torch.json" "$@"
    reference_note="measured now by torch_reference.py"
else
    echo "torch is not installed: using the figures recorded on a quiet machine (2 threads, PyTorch 1.13)"
    cat > "$out_dir/torch.json" <<'JSON'
{"five_layer": {"threads": 2, "train_img_s_b64": 927, "train_img_s_b256": 203, "infer_img_s_b256": 448,
                "latency_ms_b1_median": 1.23},
 "gap": {"threads": 2, "train_img_s_b64": 527, "train_img_s_b256": 158, "infer_img_s_b256": 1352,
         "latency_ms_b1_median": 1.81}}
JSON
    reference_note="recorded (measurements.md, quiet machine, 2 threads); fer measured now"
fi
echo

python3 - "$out_dir/fer.json" "$out_dir/torch.json" "$reference_note" <<'PY'
import json, sys
ours, ref, note = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
cells = [("train_img_s_b64", "train b64 img/s", False), ("train_img_s_b256", "train b256 img/s", False),
         ("infer_img_s_b256", "infer b256 img/s", False), ("latency_ms_b1_median", "b1 latency ms", True)]
print(f"ours / PyTorch ({note}); > 1 means fer is faster")
print(f"{'model':<11} {'cell':<17} {'fer':>9} {'PyTorch':>9} {'ratio':>7}")
for model in [k for k in ours if isinstance(ours[k], dict)]:
    if model not in ref:
        continue
    a, b = ours[model], ref[model]
    if a.get("threads") != b.get("threads"):
        print(f"{model}: note: fer at {a.get('threads')} thread(s), PyTorch at {b.get('threads')}")
    for key, label, lower_is_better in cells:
        if key not in a or key not in b:
            continue
        ratio = b[key] / a[key] if lower_is_better else a[key] / b[key]
        print(f"{model:<11} {label:<17} {a[key]:>9.2f} {b[key]:>9.2f} {ratio:>7.2f}")
PY
