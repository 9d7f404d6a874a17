#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Integration tests need root (BPF); without KVM they skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
ctest --test-dir build --output-on-failure -j 2 --timeout 900
