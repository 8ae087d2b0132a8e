#!/bin/sh
# Intake benchmark: builds a release mailtrigger (no sanitizers) in
# build-intake unless MAILTRIGGER names a binary, then runs bench/intake.py
# (smtp-source against mailtrigger, smtp-sink and a private Postfix).
# Usage: bench/intake.sh [--quick] [--json FILE]. Needs root and Debian's
# postfix package. See bench/README.md.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
release_binary "$src" build-intake
exec python3 "$src/bench/intake.py" "$@"
