#!/usr/bin/env bash
# check-install.sh BUILD_DIR SOURCE_DIR - installs into a scratch prefix, then builds the
# host-loop example against it twice: with find_package() and with pkg-config.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d /tmp/lmm-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
test -f "$tmp/prefix/include/lwm2m_mbms/lwm2m_mbms.h"
test -f "$tmp/prefix/include/lwm2m_mbms/version.h"
test -x "$tmp/prefix/bin/lwm2m-mbms" && test -x "$tmp/prefix/bin/t8-mock"
# The object definitions, for --objects and other tools.
for f in "$src"/objects/*.xml; do test -f "$tmp/prefix/share/lwm2m-mbms/objects/$(basename "$f")"; done
# Only the public names leave the shared library.
if nm -D --defined-only "$libdir"/liblwm2m_mbms.so | awk '{print $3}' | grep -v '^lmm_' | grep -q .; then
  echo "exported names without the lmm_ prefix:" >&2
  nm -D --defined-only "$libdir"/liblwm2m_mbms.so | awk '{print $3}' | grep -v '^lmm_' >&2
  exit 1
fi
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DEXAMPLE_SOURCE="$src/examples/t8_host_loop.c" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -o "$tmp/pc-consumer" "$src/examples/t8_host_loop.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs lwm2m_mbms)
# Without arguments it prints its usage and exits 2: proof that it links and runs.
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/pc-consumer" 2>&1 || true)
grep -q usage <<<"$out"
echo "install: headers, tools, CMake package and pkg-config all usable"
