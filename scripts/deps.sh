#!/usr/bin/env bash
# Installs the Debian packages ijepa.c needs, only those that are missing.
# Usage: scripts/deps.sh            (build + tests)
#        scripts/deps.sh --torch    (also PyTorch, for regenerating fixtures / benchmarks)
set -euo pipefail
pkgs=(gcc make libc6-dev libopenblas-dev libopenblas-openmp-dev libjansson-dev zlib1g-dev libyaml-dev libjpeg62-turbo-dev
      libpng-dev python3 python3-numpy dataset-fashion-mnist
      pkg-config python3-pip python3-setuptools python3-wheel python3-venv  # make install's .pc file; the Python package
      libopenmpi-dev openmpi-bin)  # OpenMPI: the data-parallel build (make MPI=1) and its tests
[ "${1:-}" = "--torch" ] && pkgs+=(python3-torch)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
