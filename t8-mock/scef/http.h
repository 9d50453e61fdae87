/* http.h - what the pieces of the mock's HTTP server share: the request being served, the
 * response helpers and the handlers of each resource. */
#ifndef T8MOCK_HTTP_H
#define T8MOCK_HTTP_H

#include "mock.h"

#include <microhttpd.h>

#include "lmm_wire/t8_json.h"

enum meth { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_OTHER };
enum route { R_NONE, R_TMGIS, R_TMGI, R_GMDS, R_GMD };

typedef struct req {
  mock *m;
  int64_t t0;
  char *method;
  char *path;
  enum meth meth;
  enum route route;
  char *segbuf; /* the path split in place; the pointers below point into it */
  char *scs, *tmgi, *txn;
  bool queued;
  int status;
  struct MHD_Response *pending; /* an error decided from the headers, sent after the body */
  int pending_status;
  char *body;
  size_t len, cap;
  uint64_t release_id; /* the delivery this request created: release its work when sent */
} req;

/* ------------------------------------------------------------------ http.c: responses */

/** A response with `body` (taken; NULL: empty) of type `ctype`. NULL on allocation failure. */
struct MHD_Response *http_response(char *body, const char *ctype);
/** An application/problem+json ProblemDetails response; `param` adds one invalidParams entry. */
struct MHD_Response *http_problem(int status, const char *cause, const char *detail,
                                  const char *param, const char *reason);
/** Queues `r` (taking it) after --latency-ms and remembers the status for the log. */
enum MHD_Result http_send(req *q, struct MHD_Connection *c, int status, struct MHD_Response *r);
enum MHD_Result http_send_problem(req *q, struct MHD_Connection *c, int status, const char *cause,
                                  const char *detail, const char *param, const char *reason);
/** application/json `json` (taken), with a Location header when `location` is not NULL. */
enum MHD_Result http_send_json(req *q, struct MHD_Connection *c, int status, char *json,
                               const char *location);
enum MHD_Result http_send_nomem(req *q, struct MHD_Connection *c);
/** The 400 (or 500 when out of memory) for a body the decoder refused. */
enum MHD_Result http_bad_body(req *q, struct MHD_Connection *c, lmm_err rc, const lmmw_t8_err *je);

/* ------------------------------------------------------------------ http_check.c */

enum meth http_parse_method(const char *m);
/** Everything decided from the request line and headers (sets q->route). NULL when the request
 *  may go on; otherwise the error response, its status in *status. */
struct MHD_Response *http_precheck(mock *m, req *q, struct MHD_Connection *c, int *status);
/** Whether an error decided from the headers is sent before the body is read. */
bool http_answer_early(struct MHD_Connection *c);

/* ------------------------------------------------------------------ http_tmgi.c */

/** The TMGI of the request for its scsAsId; NULL with the 404/403 to send otherwise. Lock held. */
mock_tmgi *http_lookup_tmgi(mock *m, req *q, int *status, const char **cause, const char **detail);
enum MHD_Result http_tmgi_list(mock *m, req *q, struct MHD_Connection *c);
enum MHD_Result http_tmgi_create(mock *m, req *q, struct MHD_Connection *c);
enum MHD_Result http_tmgi_one(mock *m, req *q, struct MHD_Connection *c);

/* ------------------------------------------------------------------ http_gmd.c */

enum MHD_Result http_gmd_list(mock *m, req *q, struct MHD_Connection *c);
enum MHD_Result http_gmd_create(mock *m, req *q, struct MHD_Connection *c);
enum MHD_Result http_gmd_one(mock *m, req *q, struct MHD_Connection *c);

#endif
