#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan and UBSan) and runs
# each one: first on every committed corpus file (a regression run), then
# for N seconds from a copy of its corpus. Fails, naming the target and the
# input that crashed, leaked or timed out (kept in a temporary directory).
# Nothing is written into the committed corpus; every run file lives in a
# temporary directory removed at the end (but one holding a failing input).
#   scripts/fuzz.sh [--seconds N] [--jobs N] [--build-dir DIR]
#     --seconds N      fuzzing time per target (default 60; 0: regression only)
#     --jobs N         targets run at once, each on one CPU (default: the CPUs)
#     --build-dir DIR  the instrumented build (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=$(nproc)
build_dir=build-fuzz
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "fuzz: unknown argument '$1'; see $0 --help" >&2; exit 2 ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: --seconds must be a whole number, not '$seconds'" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --jobs must be a positive whole number, not '$jobs'" >&2; exit 2; }

./scripts/install-deps.sh
# -O1 with line tables only, as OSS-Fuzz builds: the sanitizers' reports
# keep their lines, and the build is lighter than -O2 -g.
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_FUZZ="-O1 -gline-tables-only" -DDPDC_FUZZ=ON \
  -DDPDC_BUILD_BENCH=OFF -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build_dir" --target dpdc_fuzz -j "$(nproc)"
bins=$(cd "$build_dir/fuzz" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/dpdc-fuzz.XXXXXX")
keep=0
trap '((keep)) || rm -rf "$work"' EXIT
# A small quarantine and no malloc fill: twice the executions, every check kept.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=16:max_malloc_fill_size=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

# fail TARGET INPUT LOG: the one line that says what failed, and the report.
# Runs inside a target's own job (a subshell), which then exits 1.
fail() {
  tail -n 60 "$3" >&2
  echo "fuzz: FAILED: target $1 on input $2 (log: $3)" >&2
  exit 1
}

# run_target CORPUS_DIR: the regression run, then the fuzzing, of one target
# (libFuzzer is single-threaded: targets run side by side, --jobs at once).
run_target() {
  local corpus=$1 target bin log failed runs
  target=$(basename "$corpus")
  bin=$bins/${target}_fuzz
  [[ -x $bin ]] || { echo "fuzz: no fuzz target for fuzz/corpus/$target (expected $bin)" >&2; exit 1; }
  local dict=()
  [[ -f fuzz/dict/$target.dict ]] && dict=(-dict="$PWD/fuzz/dict/$target.dict")
  mkdir -p "$work/$target/artifacts" "$work/$target/corpus"
  log=$work/$target/log

  # Regression: every committed input, by name, from inside the work directory.
  local files=("$PWD/$corpus"*)
  if ! (cd "$work/$target" && "$bin" "${opts[@]}" "${files[@]}") >"$log" 2>&1; then
    failed=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
    fail "$target" "${failed:-(see the log)}" "$log"
  fi
  echo "fuzz: $target: ${#files[@]} corpus inputs pass"
  ((seconds > 0)) || exit 0

  cp "$corpus"* "$work/$target/corpus/"
  if ! (cd "$work/$target" && "$bin" "${opts[@]}" "${dict[@]}" -max_total_time="$seconds" \
    -artifact_prefix="$work/$target/artifacts/" corpus) >"$log" 2>&1; then
    failed=$(ls "$work/$target/artifacts/"* 2>/dev/null | head -n 1)
    fail "$target" "${failed:-(no input written; see the log)}" "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $target: ${runs:-?} runs in ${seconds} s, corpus ${#files[@]} -> $(ls "$work/$target/corpus" | wc -l) inputs"
}

# Each job leaves its exit status in a file: statuses collected by `wait -n`
# could be reported to no one.
for corpus in fuzz/corpus/*/; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  ( (run_target "$corpus"); echo $? >"$work/status.$(basename "$corpus")") &
done
wait
failures=0
for corpus in fuzz/corpus/*/; do
  [[ $(cat "$work/status.$(basename "$corpus")" 2>/dev/null) == 0 ]] || failures=$((failures + 1))
done
if ((failures > 0)); then
  keep=1
  echo "fuzz: $failures target(s) FAILED (see the FAILED lines above; inputs kept in $work)" >&2
  exit 1
fi
echo "fuzz: all targets passed"
