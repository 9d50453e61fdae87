#!/usr/bin/env bash
# check-layers.sh - the layers of t8-mock. Usage: check-layers.sh SOURCE_DIR.
# 1. t8-mock stands on the public API and the wire library: its files include system headers,
#    lwm2m_mbms/*.h, lmm_wire/*.h and its own headers only (none of src/), and use no lmmi_
#    (library-internal) name.
# Lists every violation and fails if there is one.
set -euo pipefail
src=${1:?usage: check-layers.sh SOURCE_DIR}
cd "$src"
bad=0
fail() {
  echo "$1"
  bad=1
}
# "LINE:NAME" for every #include "NAME" (or <NAME> when $2 is '<') of file $1.
includes() {
  awk -v q="$2" '
    q == "\"" && /^[ \t]*#[ \t]*include[ \t]*"/ { s = $0; sub(/^[^"]*"/, "", s); sub(/".*/, "", s); print FNR ":" s }
    q == "<" && /^[ \t]*#[ \t]*include[ \t]*</ { s = $0; sub(/^[^<]*</, "", s); sub(/>.*/, "", s); print FNR ":" s }' "$1"
}

# ---------------------------------------------------------------- 1. what t8-mock stands on
mapfile -t files < <(find t8-mock -name '*.[ch]' | sort)
for f in "${files[@]}"; do
  dir=$(dirname "$f")
  while IFS=: read -r line inc; do
    case $inc in
    lwm2m_mbms/*.h | lmm_wire/*.h) continue ;;
    esac
    # Its own headers: next to the file, or t8-mock/common/ (the two programs' shared code).
    [ -f "$dir/$inc" ] || [ -f "t8-mock/common/$inc" ] ||
      fail "$f:$line: includes \"$inc\", which is neither public (lwm2m_mbms/), the wire library (lmm_wire/) nor t8-mock's own"
  done < <(includes "$f" '"')
  # <...> reaches src/ as well: the static library's include path has it.
  while IFS=: read -r line inc; do
    [ ! -f "src/$inc" ] || fail "$f:$line: includes <$inc>, a header of src/"
  done < <(includes "$f" '<')
  while IFS=: read -r line name; do
    fail "$f:$line: uses $name, a library-internal name"
  done < <(grep -noE '\b(lmmi|LMMI)_[A-Za-z0-9_]*' "$f" || true)
done

[ "$bad" -eq 0 ] && echo "t8-mock: public API and wire library only"
[ "$bad" -eq 0 ]
