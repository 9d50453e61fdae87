/* err.h - the one error enum of the library; append only. */
#ifndef LWM2M_MBMS_ERR_H
#define LWM2M_MBMS_ERR_H

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every fallible call. Values are stable: new ones are appended. */
typedef enum lmm_err {
  LMM_OK = 0,
  LMM_ERR_NOMEM,     /**< an allocation failed */
  LMM_ERR_ARG,       /**< a bad argument (NULL, out of range, malformed) */
  LMM_ERR_STATE,     /**< the object is not in a state that allows the call */
  LMM_ERR_T8,        /**< the SCEF answered with an HTTP error status (see the problem) */
  LMM_ERR_NET,       /**< transport failure: connect, TLS, reset, DNS */
  LMM_ERR_PROTO,     /**< the peer sent something malformed (bad JSON, bad CoAP, missing header) */
  LMM_ERR_TIMEOUT,   /**< a deadline passed */
  LMM_ERR_NOTFOUND,  /**< no such object */
  LMM_ERR_IO,        /**< a local I/O or system call failed */
  LMM_ERR_CANCELLED, /**< the operation was cancelled by its owner */
  LMM_ERR_COAP,      /**< a CoAP exchange failed */
  LMM_ERR_DB         /**< the state store failed */
} lmm_err;

/** Short English text for an error code. Never NULL; static storage. */
LMM_API const char *lmm_strerror(lmm_err e);

/** Frees memory the library handed out as "owned" (strings, JSON). NULL is a no-op. */
LMM_API void lmm_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
