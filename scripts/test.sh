#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test on this
# host (ctest; tests that need a facility the host lacks skip and say why),
# then the kernel matrix: the integration tests that need a kernel (KVM, BPF,
# migrations) on every kernel of tests/vm/kernels.list, each booted under
# QEMU TCG with a real KVM inside (tests/vm/matrix.sh; a skip there fails).
#   DPDC_MATRIX_KERNELS  kernels to run, comma-separated (default: all of them;
#                        "none" runs the host's tests only)
#   DPDC_MATRIX_TABLE    also write the matrix table (Markdown) to this file
#   DPDC_FUZZ_SECONDS    fuzzing time per libFuzzer target after its corpus
#                        replay (scripts/fuzz.sh, one target per CPU at once;
#                        default 30, 0 replays only, "none" skips the fuzz build)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
host=0
ctest --test-dir build --output-on-failure -j 2 --timeout 900 || host=$?

fuzz=0
if [[ ${DPDC_FUZZ_SECONDS:-30} != none ]]; then
  scripts/fuzz.sh --seconds "${DPDC_FUZZ_SECONDS:-30}" || fuzz=$?
fi

matrix=0
kernels=${DPDC_MATRIX_KERNELS:-}
if [[ $kernels != none ]]; then
  opts=()
  [[ -n $kernels ]] && opts+=(--kernels "$kernels")
  [[ -n ${DPDC_MATRIX_TABLE:-} ]] && opts+=(--table "$DPDC_MATRIX_TABLE")
  tests/vm/matrix.sh "${opts[@]}" || matrix=$?
fi
if ((host != 0 || fuzz != 0 || matrix != 0)); then
  echo "test: FAILED:$( ((host != 0)) && echo " tests on this host (ctest exit $host)")$( ((fuzz != 0)) && echo " fuzz targets (see fuzz: lines above)")$( ((matrix != 0)) && echo " kernel matrix (see matrix: lines above)")" >&2
  exit 1
fi
echo "test: all passed"
