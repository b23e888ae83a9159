#!/usr/bin/env bash
# Everything a GPU machine should check, in one go (about 5 minutes on an H200), logs into one folder:
#   bash benchmarks/gpu_session.sh [OUTDIR]        (default: gpu-session-logs; GPUNET_SHARED as for the tests)
# 1. the README's test suite with CuPy as "auto" (pytest-xdist when installed, else SUITE_SHARDS
#    processes side by side), 2. the GPU benchmarks
#    rendered over benchmarks/results.json into OUTDIR/RESULTS.md, 3. gpu_check.py's Dense table
#    (benchmarks/dense_timings_h200.txt's format) and optimizer timings, 4. gpu_diagnose.py: the 4096x3
#    workload phase by phase, the upload every way, the one-launch step's size limits.
# Without pip (as on a bare GPU image) it runs from the source tree: PYTHONPATH is the checkout.
# PARTS picks parts (default "suite report check diagnose"; e.g. PARTS="check diagnose" for a
# second call where one call may run 10 minutes at most); T_SUITE, T_REPORT, T_CHECK, T_DIAG cap each,
# T_TEST one test (with pytest-timeout); SUITE_WORKERS sets pytest-xdist's workers (default 8).
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu-session-logs}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
{ date; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  "$PY" -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"; } > "$OUT/env.txt" 2>&1
PARTS=" ${PARTS:-suite report check diagnose} "
XDIST=$("$PY" -c "import xdist" 2>/dev/null && echo "-n ${SUITE_WORKERS:-8}")
if [[ $PARTS == *" suite "* ]]; then
  echo "== suite"; SECONDS=0
  if [[ -n $XDIST ]]; then
    # -v: each test's outcome on its own line as it ends, so a run cut off by T_SUITE still names
    # its failures; pytest-timeout (where installed) fails a test that hangs past T_TEST seconds
    # with its stack instead of letting it hold the run (2026-12-05: an H100 run of 14 workers
    # was cut off at 98% after 220 s with 6 failures it never got to name).
    # (T_TEST well above the slowest CPU-bound tests: 4 workers on 2 cores took 225 s for the
    # kernel emulation's reverse-order run; a test cut off by T_SUITE is named below anyway)
    TO=$("$PY" -c "import pytest_timeout" 2>/dev/null && echo "--timeout=${T_TEST:-300}")
    timeout "${T_SUITE:-420}" "$PY" -m pytest -v $XDIST $TO -p no:cacheprovider -rfE --durations=25 tests \
        > "$OUT/suite.full.log" 2>&1
    rc=$?
    { grep -E "^\[gw[0-9]+\].* (FAILED|ERROR) " "$OUT/suite.full.log" | sort -u
      "$PY" benchmarks/unfinished_tests.py "$OUT/suite.full.log"
      sed -n '/slowest .*durations/,$p' "$OUT/suite.full.log"
      echo "suite rc=$rc in ${SECONDS}s"; } > "$OUT/suite.log"
  else
    # No pytest-xdist (a bare GPU image has no pip): SUITE_SHARDS pytest processes over the test
    # files, dealt round-robin, side by side (the suite in one process outlasts T_SUITE). Each
    # shard's log is kept, and suite.log gathers their summaries and exit statuses.
    read -r -a FILES <<< "${SUITE_FILES:-$(ls tests/test_*.py | tr '\n' ' ')}"
    SHARDS=${SUITE_SHARDS:-8}
    for ((k = 0; k < SHARDS; k++)); do
      part=()
      for ((i = k; i < ${#FILES[@]}; i += SHARDS)); do part+=("${FILES[$i]}"); done
      ((${#part[@]})) || continue
      ( timeout "${T_SUITE:-300}" "$PY" -m pytest -q -p no:cacheprovider -rfE "${part[@]}" > "$OUT/suite.$k.log" 2>&1
        echo "shard $k rc=$? (${#part[@]} files)" >> "$OUT/suite.$k.log" ) &
    done
    wait
    : > "$OUT/suite.log"
    for f in "$OUT"/suite.[0-9]*.log; do
      { echo "-- $(basename "$f")"; grep -E "^(FAILED|ERROR) " "$f"; tail -2 "$f"; } >> "$OUT/suite.log"
    done
    echo "suite (${SHARDS} shards) in ${SECONDS}s" | tee -a "$OUT/suite.log"
  fi
  tail -3 "$OUT/suite.log"
fi
if [[ $PARTS == *" report "* ]]; then
  echo "== report"; SECONDS=0
  timeout "${T_REPORT:-200}" "$PY" -m benchmarks.report --merge benchmarks/results.json --out-dir "$OUT" \
      --wait-idle 0 -- -k test_gpu > "$OUT/report.log" 2>&1
  echo "report rc=$? in ${SECONDS}s" | tee -a "$OUT/report.log"
fi
if [[ $PARTS == *" check "* ]]; then
  echo "== gpu_check"; SECONDS=0
  timeout "${T_CHECK:-120}" "$PY" benchmarks/gpu_check.py --no-tests --no-workloads --no-diagnose \
      > "$OUT/gpu_check.log" 2>&1
  echo "check rc=$? in ${SECONDS}s" | tee -a "$OUT/gpu_check.log"
fi
if [[ $PARTS == *" diagnose "* ]]; then
  echo "== gpu_diagnose"; SECONDS=0
  timeout "${T_DIAG:-150}" "$PY" benchmarks/gpu_diagnose.py > "$OUT/gpu_diagnose.log" 2>&1
  echo "diagnose rc=$? in ${SECONDS}s" | tee -a "$OUT/gpu_diagnose.log"
fi
grep -A14 "^### GPU targets" "$OUT/RESULTS.md" 2>/dev/null || echo "(no RESULTS.md in $OUT: the report did not run)"
