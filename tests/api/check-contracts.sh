#!/usr/bin/env bash
# check-contracts.sh - every public function (an LMM_API declaration in include/lwm2m_mbms/)
# carries its own contract comment: a /** ... */ block that ends on the line right above it.
# Usage: check-contracts.sh SOURCE_DIR [--count]. Lists the undocumented ones and fails if
# there are any; --count prints "documented undocumented" and always succeeds.
set -euo pipefail
src=${1:?usage: check-contracts.sh SOURCE_DIR [--count]}
mode=${2:-}
out=$(awk '
  FNR == 1 { prev = ""; in_decl = 0 }
  /^[[:space:]]*$/ { prev = ""; next }
  in_decl { if ($0 ~ /;/) in_decl = 0; prev = "decl"; next }
  /^LMM_API/ {
    name = $0; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n]
    if (prev == "doc") ok++; else { bad++; printf "%s:%d: %s has no contract comment\n", FILENAME, FNR, name }
    if ($0 !~ /;/) in_decl = 1
    prev = "decl"; next
  }
  /\*\/[[:space:]]*$/ { prev = (incomment || $0 ~ /\/\*\*/) ? "doc" : "other"; incomment = 0; next }
  /\/\*\*/ { incomment = 1; prev = ""; next }
  { if (!incomment) prev = "other" }
  END { printf "TOTAL %d %d\n", ok, bad }
' "$src"/include/lwm2m_mbms/*.h)
total=$(printf '%s\n' "$out" | sed -n 's/^TOTAL //p')
if [ "$mode" = --count ]; then echo "$total"; exit 0; fi
printf '%s\n' "$out" | grep -v '^TOTAL' || true
read -r ok bad <<<"$total"
echo "$ok public functions with a contract, $bad without"
[ "$bad" -eq 0 ]
