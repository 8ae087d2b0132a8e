#!/bin/sh
# Flow latency benchmark: builds a release mailtrigger (no sanitizers) in
# build-latency unless MAILTRIGGER names a binary, then runs
# bench/latency.py (250 -> webhook latency at 100, 1,000 and 5,000 msgs/s
# offered, delivery at the intake's 50-session rate, maximum delivery
# rate into a local receiver). Usage: bench/latency.sh [--quick]
# [--json FILE]. Needs Debian's postfix package (smtp-source). See
# bench/README.md.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
release_binary "$src" build-latency
exec python3 "$src/bench/latency.py" "$@"
