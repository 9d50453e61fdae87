/* err.c - texts of the library's error codes. */
#include <stdlib.h>

#include "lwm2m_mbms/err.h"

LMM_API const char *lmm_strerror(lmm_err e) {
  switch (e) {
  case LMM_OK:
    return "success";
  case LMM_ERR_NOMEM:
    return "out of memory";
  case LMM_ERR_ARG:
    return "invalid argument";
  case LMM_ERR_STATE:
    return "not allowed in the current state";
  case LMM_ERR_T8:
    return "the SCEF refused the request";
  case LMM_ERR_NET:
    return "network error";
  case LMM_ERR_PROTO:
    return "malformed message from the peer";
  case LMM_ERR_TIMEOUT:
    return "timed out";
  case LMM_ERR_NOTFOUND:
    return "not found";
  case LMM_ERR_IO:
    return "input/output error";
  case LMM_ERR_CANCELLED:
    return "cancelled";
  case LMM_ERR_COAP:
    return "CoAP exchange failed";
  case LMM_ERR_DB:
    return "state store error";
  }
  return "unknown error";
}

LMM_API void lmm_free(void *p) {
  free(p);
}
