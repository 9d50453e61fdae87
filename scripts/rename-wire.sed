#!/bin/sed -Ezf
# rename-wire.sed - the move of the wire formats into the lmm_wire library (src/wire/): its
# names go from lmmi_ to lmmw_ and its headers from src/t8/, src/campaign/ to lmm_wire/.
# Reads each file whole (-z), so that an include can depend on what the file uses:
#   sed -Ezi -f scripts/rename-wire.sed FILE...     (or: scripts/rename-wire.sed -i FILE...)
# Idempotent: a file already renamed is left as it is.

# Headers. A file that includes the blob header for the hex helpers alone gets hex.h instead.
/\blmmi_(hex|unhex|hexval)\b/ {
  /\b(lmmi_blob_|LMMI_BLOB_|lmmi_bit)/! s|#include "campaign/blob\.h"|#include "lmm_wire/hex.h"|g
  s|#include "campaign/blob\.h"|#include "lmm_wire/blob.h"\n#include "lmm_wire/hex.h"|g
}
s|#include "campaign/blob\.h"|#include "lmm_wire/blob.h"|g
s|#include "t8/codec\.h"|#include "lmm_wire/t8_json.h"|g
s|#include "t8/codec_util\.h"|#include "json_util.h"|g

# The T8 JSON mapping (lmm_wire/t8_json.h).
s/\blmmi_jerr\b/lmmw_t8_err/g
s/\blmmi_j_/lmmw_t8_/g
s/\bLMMI_J_/LMMW_T8_/g
s/\bLMMI_GP_/LMMW_T8_GP_/g
s/\blmmi_(external_group_id_ok|tmgi_ok|loc_area_dup|tmgi_allocation_copy|gmd_copy)\b/lmmw_t8_\1/g
s/\blmmi_link_/lmmw_t8_link_/g

# The JSON helpers behind it (src/wire/json_util.h, private to the wire library).
s/\bLMMI_JSON_MAX_DEPTH\b/LMMW_JSON_MAX_DEPTH/g
s/\blmmi_jparse\b/lmmw_json_parse/g
s/\blmmi_jfail\b/lmmw_json_fail/g
s/\blmmi_jptr\b/lmmw_json_ptr/g
s/\blmmi_jmember\b/lmmw_json_member/g
s/\blmmi_jget_/lmmw_json_get_/g
s/\blmmi_jadd_/lmmw_json_add_/g
s/\blmmi_jreject\b/lmmw_json_reject/g
s/\blmmi_jcheck_objv\b/lmmw_json_check_objv/g
s/\blmmi_jprint\b/lmmw_json_print/g
s/\blmmi_jm\b/lmmw_jm/g
s/\bLMMI_JM_/LMMW_JM_/g
s/\blmmi_jstr(_ok|_reason)?\b/lmmw_jstr\1/g
s/\bLMMI_JS_/LMMW_JS_/g
s/\blmmi_utf8_ok\b/lmmw_utf8_ok/g
s/\blmmi_strdup_or_null\b/lmmw_strdup_or_null/g

# The blob format (lmm_wire/blob.h) and the hex helpers (lmm_wire/hex.h).
s/\blmmi_blob_/lmmw_blob_/g
s/\bLMMI_BLOB_/LMMW_BLOB_/g
s/\blmmi_bit(_set)?\b/lmmw_bit\1/g
s/\blmmi_(hex|unhex|hexval)\b/lmmw_\1/g
