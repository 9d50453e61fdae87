/* notifier_internal.h - what the T8 client asks of the notification receiver: a destination
 * URL per delivery create, bound to the delivery when its 201 comes. */
#ifndef LMMI_T8_NOTIFIER_INTERNAL_H
#define LMMI_T8_NOTIFIER_INTERNAL_H

#include <stdbool.h>

#include "lwm2m_mbms/t8.h"
#include "t8/notify_dest.h"

/** Hands out a new per-delivery destination: `token` (LMMI_DEST_TOKEN_LEN + 1 bytes) and its
 *  URL (owned, free()). It is pending from now on: notifications there are accepted and held.
 *  LMM_ERR_STATE when the receiver has no room (every destination awaits its 201). */
lmm_err lmmi_notifier_reserve(lmm_t8_notifier *n, char *token, char **url);
/** Whether the receiver takes notifications only at per-delivery URLs (no accept_base): a
 *  delivery must then never be sent to the base URL. */
bool lmmi_notifier_strict(const lmm_t8_notifier *n);
/** The URL of destination `token`; owned (free()), NULL when out of memory. */
char *lmmi_notifier_url_of(const lmm_t8_notifier *n, const char *token);
/** The create's 201 names the delivery `link` (copied). Call before the create's callback, so a
 *  notification arriving meanwhile is matched; then lmmi_notifier_flush() after it. */
void lmmi_notifier_bind(lmm_t8_notifier *n, const char *token, const char *link);
/** Hands the notifications held for `token` to the handlers, as the delivery `link`'s. */
void lmmi_notifier_flush(lmm_t8_notifier *n, const char *token, const char *link);
/** The create failed or was cancelled: the destination goes, with what it held. */
void lmmi_notifier_release(lmm_t8_notifier *n, const char *token);
/** The destination bound to the delivery `link`, into `token`; false when it has none. */
bool lmmi_notifier_token_of(lmm_t8_notifier *n, const char *link, char *token);

#endif
