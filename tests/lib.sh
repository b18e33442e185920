# lib.sh: what the shell tests share (source it first: . "$(dirname "$0")/lib.sh"). It sets
#   build                  the build folder (the script's first argument; default build)
#   ij                     the program in it
#   dir                    a temporary folder, removed on exit
# and defines:
#   fail MSG...            print FAIL and count it in $fails (the script exits with [ $fails -eq 0 ])
#   same_tensors A B       two safetensors files hold the same tensors, bit for bit (metadata such as
#                          wall-clock training time may differ)
#   close_tensors A B TOL  the same tensor names, each within TOL relative (||a - b|| / ||b||)
#   tiny_model             the model flags of the tests' tiny runs
set -uo pipefail
build=${1:-build}
ij="$build/ijepa"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
py=/usr/bin/python3
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
tiny_model=(--embed-dim 32 --depth 2 --heads 2 --pred-dim 16 --pred-depth 1)

_tensors_py='
import array, json, math, struct, sys
def load(p):
    raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None)
    return {k: raw[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
if a.keys() != b.keys(): sys.exit(1)
if len(sys.argv) < 4: sys.exit(0 if all(a[k] == b[k] for k in a) else 1)
tol, worst = float(sys.argv[3]), 0.0
for k in a:
    x, y = array.array("f", a[k]), array.array("f", b[k])
    num = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y))); den = math.sqrt(sum(q * q for q in y)) + 1e-30
    worst = max(worst, num / den)
print(f"worst tensor relative difference {worst:.2e}")
sys.exit(0 if worst <= tol else 1)
'
same_tensors() { $py -c "$_tensors_py" "$1" "$2"; }
close_tensors() { $py -c "$_tensors_py" "$1" "$2" "$3"; }
