#!/usr/bin/env bash
# Start time of the uberjar's CLI against a bare clojure.main from the same jar (issue 18
# item 6: --help within 1.6x). Builds the uberjar first unless NO_BUILD=1. Uses hyperfine
# when installed (apt-get install hyperfine), else 5 timed runs of each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "${NO_BUILD:-}" = 1 ] || LEIN_ROOT=1 lein uberjar >/dev/null
jar=$(ls target/uberjar/*-standalone.jar | head -1)
if command -v hyperfine >/dev/null; then
  hyperfine -N -w 2 -r "${RUNS:-10}" "java -cp $jar clojure.main -e nil" "java -jar $jar --help"
else
  for cmd in "java -cp $jar clojure.main -e nil" "java -jar $jar --help"; do
    echo "== $cmd"
    for _ in 1 2 3 4 5; do ( time $cmd >/dev/null ) 2>&1 | grep real; done
  done
fi
