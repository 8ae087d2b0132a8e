#!/bin/sh
# Intake benchmark: builds a release mailtrigger (no sanitizers) in
# build-intake unless MAILTRIGGER names a binary, then runs bench/intake.py
# (smtp-source against mailtrigger, smtp-sink and a private Postfix).
# Usage: bench/intake.sh [--quick] [--json FILE]. Needs root and Debian's
# postfix package. See bench/README.md.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${MAILTRIGGER:-}" ]; then
	cmake -S "$src" -B "$src/build-intake" -DCMAKE_BUILD_TYPE=Release \
	    >/dev/null
	make -C "$src/build-intake" -j2 mailtrigger >/dev/null
	MAILTRIGGER=$src/build-intake/mailtrigger
fi
export MAILTRIGGER
exec python3 "$src/bench/intake.py" "$@"
