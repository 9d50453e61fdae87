/* lwm2m_internal.h - what the LwM2M data-model and codec files share inside the library. */
#ifndef LMMI_LWM2M_INTERNAL_H
#define LMMI_LWM2M_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_mbms/lwm2m.h"

/* TLV types: bits 7-6 of the type byte (tlv_encode.c, tlv_decode.c). */
enum { LMMI_TLV_OBJ_INST = 0, LMMI_TLV_RES_INST = 1, LMMI_TLV_MULTI_RES = 2, LMMI_TLV_RES = 3 };

lmm_err lmmi_lwm2m_fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int lmmi_lwm2m_find_dup(const lmm_record *r, size_t n, size_t *later);
size_t lmmi_lwm2m_fmt_double(double d, char *buf);
size_t lmmi_lwm2m_fmt_i64(int64_t v, char *buf);
size_t lmmi_lwm2m_fmt_u64(uint64_t v, char *buf);
bool lmmi_lwm2m_parse_double(const char *s, size_t n, double *out);
bool lmmi_lwm2m_parse_i64(const char *s, size_t n, int64_t *out);
bool lmmi_lwm2m_parse_objlnk(const char *s, size_t n, uint16_t *oid, uint16_t *iid);
bool lmmi_lwm2m_parse_u64(const char *s, size_t n, uint64_t *out);
bool lmmi_lwm2m_path_ok(const lmm_path *p);
lmm_err lmmi_lwm2m_records_move(lmm_records *dst, lmm_records *src);
lmm_err lmmi_lwm2m_records_push(lmm_records *r, const lmm_path *p, lmm_value *v);
lmm_err lmmi_lwm2m_senml_decode(const lmm_path *base, const char *s, size_t len,
                                const lmm_obj_def *def, lmm_records *out, char *why, size_t cap);
lmm_err lmmi_lwm2m_senml_encode(const lmm_path *base, const lmm_record *recs, size_t n,
                                uint8_t **out, size_t *out_len);
lmm_err lmmi_lwm2m_tlv_decode(const lmm_path *base, const uint8_t *buf, size_t len,
                              const lmm_obj_def *def, lmm_records *out, char *why, size_t cap);
lmm_err lmmi_lwm2m_tlv_encode(const lmm_path *base, const lmm_record *recs, size_t n, uint8_t **out,
                              size_t *out_len);
bool lmmi_lwm2m_utf8_ok(const uint8_t *s, size_t n);
lmm_err lmmi_lwm2m_value_copy(lmm_value *dst, const lmm_value *src);

#endif
