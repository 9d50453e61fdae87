#!/usr/bin/env bash
# check-layers.sh - the layers of t8-mock. Usage: check-layers.sh SOURCE_DIR.
# 1. t8-mock stands on the public API and the wire library: its files include system headers,
#    lwm2m_mbms/*.h, lmm_wire/*.h and its own headers only (none of src/), and use no lmmi_
#    (library-internal) name.
# 2. The simulator's files (t8-mock/sim/) form one-way layers, listed below bottom first: a file
#    includes the headers of its own module and of the modules listed before it, never one
#    listed after; every file is listed. What a lower layer needs from a higher one comes as a
#    callback.
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

# ---------------------------------------------------------------- 2. the simulator's layers
# MODULE: its files. One line a module, bottom first; a blank line between layers (the features
# are ordered too: each may use those above it in this list).
SIM_LAYERS='
msg:      msg.h msg.c
device:   device.h device.c

acl:      acl.h acl.c
attrs:    attrs.h attrs.c
delay:    delay.h delay.c
observe:  observe.h observe.c
fw:       fw.h fw.c pull.c
blob:     blob.h blob.c
group:    group.h group_internal.h group.c group_answer.c group_mgmt.c group_protect.c
stats:    stats.h stats.c

serve:    serve.h handlers.c ops_read.c ops_write.c block1.c discover.c

main:     opts.h opts.c main.c
'
declare -A rank module
r=0
while read -r mod rest; do
  [ -n "$mod" ] || continue
  mod=${mod%:}
  for f in $rest; do
    rank[$f]=$r
    module[$f]=$mod
  done
  r=$((r + 1))
done <<<"$SIM_LAYERS"
for path in t8-mock/sim/*.[ch]; do
  f=${path##*/}
  if [ -z "${rank[$f]:-}" ]; then
    fail "$path: not in a layer of tests/api/check-layers.sh"
    continue
  fi
  while IFS=: read -r line inc; do
    [ -f "t8-mock/sim/$inc" ] || continue # public, wire library, or t8-mock/common
    if [ -z "${rank[$inc]:-}" ]; then
      fail "$path:$line: includes \"$inc\", which is in no layer"
    elif [ "${module[$inc]}" != "${module[$f]}" ] && [ "${rank[$inc]}" -ge "${rank[$f]}" ]; then
      fail "$path:$line: includes \"$inc\" (${module[$inc]}), which is not below ${module[$f]}"
    fi
  done < <(includes "$path" '"')
done

[ "$bad" -eq 0 ] && echo "t8-mock: public API and wire library only; the simulator in one-way layers"
[ "$bad" -eq 0 ]
