#!/usr/bin/env bash
# The main job. Until `ijepa train` lands: the default Fashion-MNIST model's summary and a timed forward pass.
set -euo pipefail
cd "$(dirname "$0")/.."
build/ijepa info
