# shellcheck shell=sh
# Shared by the bench/*.sh scripts (sourced, not run).
# release_binary SRC DIR: unless MAILTRIGGER already names a binary,
# builds a release mailtrigger (-DCMAKE_BUILD_TYPE=Release, no sanitizers)
# of the repository SRC in SRC/DIR and exports MAILTRIGGER as its path.
release_binary() {
	if [ -z "${MAILTRIGGER:-}" ]; then
		cmake -S "$1" -B "$1/$2" -DCMAKE_BUILD_TYPE=Release >/dev/null
		make -C "$1/$2" -j2 mailtrigger >/dev/null
		MAILTRIGGER=$1/$2/mailtrigger
	fi
	export MAILTRIGGER
}
