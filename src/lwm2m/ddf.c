/* ddf.c - reads OMA DDF object definitions (the registry's XML format) with Expat into owned
 * lmm_obj_def / lmm_res_def copies, refusing whatever the schema or the data model forbids. */
#include "ddf.h"

#include <ctype.h>
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the parser is in the document: the element kinds of the DDF schema. */
typedef enum {
  E_NONE,
  E_ROOT,
  E_OBJECT,
  E_RESOURCES,
  E_ITEM,
  /* leaves of <Object> */
  O_NAME,
  O_DESC1,
  O_ID,
  O_URN,
  O_LWM2MVER,
  O_VERSION,
  O_MULTI,
  O_MAND,
  O_DESC2,
  /* leaves of <Item> */
  R_NAME,
  R_OPS,
  R_MULTI,
  R_MAND,
  R_TYPE,
  R_RANGE,
  R_UNITS,
  R_DESC
} kind;

static const struct {
  const char *tag;
  kind parent, self;
} grammar[] = {
    {"LWM2M", E_NONE, E_ROOT},
    {"Object", E_ROOT, E_OBJECT},
    {"Name", E_OBJECT, O_NAME},
    {"Description1", E_OBJECT, O_DESC1},
    {"ObjectID", E_OBJECT, O_ID},
    {"ObjectURN", E_OBJECT, O_URN},
    {"LWM2MVersion", E_OBJECT, O_LWM2MVER},
    {"ObjectVersion", E_OBJECT, O_VERSION},
    {"MultipleInstances", E_OBJECT, O_MULTI},
    {"Mandatory", E_OBJECT, O_MAND},
    {"Resources", E_OBJECT, E_RESOURCES},
    {"Description2", E_OBJECT, O_DESC2},
    {"Item", E_RESOURCES, E_ITEM},
    {"Name", E_ITEM, R_NAME},
    {"Operations", E_ITEM, R_OPS},
    {"MultipleInstances", E_ITEM, R_MULTI},
    {"Mandatory", E_ITEM, R_MAND},
    {"Type", E_ITEM, R_TYPE},
    {"RangeEnumeration", E_ITEM, R_RANGE},
    {"Units", E_ITEM, R_UNITS},
    {"Description", E_ITEM, R_DESC},
};
#define N_OF(a) (sizeof(a) / sizeof *(a))

static const char *tag_of(kind k) {
  for (size_t i = 0; i < N_OF(grammar); i++)
    if (grammar[i].self == k) return grammar[i].tag;
  return "?";
}

#define DEPTH_MAX 8

typedef struct parse {
  XML_Parser xp;
  const char *name;
  char *why;
  size_t why_cap;
  bool failed, nomem;
  kind stack[DEPTH_MAX];
  int depth;
  char *text; /* the current leaf's text */
  size_t tlen, tcap;
  /* the object being read */
  lmm_obj_def *obj;
  unsigned long obj_line;
  unsigned seen_obj; /* bits of O_* leaves (and E_RESOURCES) seen */
  size_t res_cap;
  /* the resource being read */
  lmm_res_def res;
  unsigned long item_line;
  unsigned seen_item;
  unsigned long *res_lines; /* line of each resource of obj, for duplicate messages */
  lmmi_ddf_list done;       /* the objects finished so far */
} parse;

static unsigned long line_now(const parse *p) {
  return (unsigned long)XML_GetCurrentLineNumber(p->xp);
}

static void fail_at(parse *p, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(parse *p, unsigned long line, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = true;
  if (p->why && p->why_cap) {
    int n = snprintf(p->why, p->why_cap, "%s:%lu: ", p->name, line);
    if (n >= 0 && (size_t)n < p->why_cap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->why + n, p->why_cap - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  XML_StopParser(p->xp, XML_FALSE);
}

static void fail_nomem(parse *p) {
  p->nomem = true;
  fail_at(p, line_now(p), "out of memory");
}

/* An owned copy of s without surrounding white space; NULL for an empty text (the tables'
 * convention for "no range", "no units"). `ok` turns false when out of memory. */
static char *dup_trim(const char *s, size_t len, bool *ok) {
  while (len && isspace((unsigned char)*s))
    s++, len--;
  while (len && isspace((unsigned char)s[len - 1]))
    len--;
  if (!len) return NULL;
  char *d = malloc(len + 1);
  if (!d) {
    *ok = false;
    return NULL;
  }
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

/* "123" (digits, optional white space around) as an ID of 0..65534; 65535 is reserved by
 * LwM2M for "no ID". -1 when not a number, -2 when out of range. */
static long parse_id(const char *s) {
  if (!s) return -1;
  while (isspace((unsigned char)*s))
    s++;
  if (!isdigit((unsigned char)*s)) return -1;
  unsigned long v = 0;
  for (; isdigit((unsigned char)*s); s++) {
    v = v * 10 + (unsigned long)(*s - '0');
    if (v > 65535) {
      while (isdigit((unsigned char)*s))
        s++;
      v = 65536;
      break;
    }
  }
  while (isspace((unsigned char)*s))
    s++;
  if (*s) return -1;
  return v > 65534 ? -2 : (long)v;
}

/* ------------------------------------------------------------------ leaves */

static const struct {
  const char *text;
  lmm_rtype type;
} types[] = {
    {"String", LMM_RT_STRING}, {"Integer", LMM_RT_INTEGER}, {"Unsigned Integer", LMM_RT_UNSIGNED},
    {"Float", LMM_RT_FLOAT},   {"Boolean", LMM_RT_BOOLEAN}, {"Opaque", LMM_RT_OPAQUE},
    {"Time", LMM_RT_TIME},     {"Objlnk", LMM_RT_OBJLNK},   {"Corelnk", LMM_RT_CORELNK},
    {"", LMM_RT_NONE},
};

/* "Multiple"/"Single" or "Mandatory"/"Optional": the schema's two words, nothing else. */
static void two_words(parse *p, kind k, const char *v, const char *yes, const char *no, bool *out) {
  if (v && !strcmp(v, yes))
    *out = true;
  else if (v && !strcmp(v, no))
    *out = false;
  else
    fail_at(p, line_now(p), "<%s>: '%s' is neither %s nor %s", tag_of(k), v ? v : "", yes, no);
}

static void set_str(parse *p, const char **dst, char *v) {
  free((char *)*dst);
  *dst = v;
  (void)p;
}

static void end_object_leaf(parse *p, kind k, char *v) {
  lmm_obj_def *o = p->obj;
  long id;
  switch (k) {
  case O_NAME:
    if (!v) fail_at(p, line_now(p), "<Object>: <Name> is empty");
    set_str(p, &o->name, v);
    return;
  case O_DESC1:
    set_str(p, &o->description, v);
    return;
  case O_ID:
    id = parse_id(v);
    if (id == -1)
      fail_at(p, line_now(p), "<ObjectID>: '%s' is not a number", v ? v : "");
    else if (id == -2)
      fail_at(p, line_now(p), "<ObjectID>: %s is out of range (0 to 65534)", v);
    else
      o->oid = (uint16_t)id;
    free(v);
    return;
  case O_URN:
    set_str(p, &o->urn, v);
    return;
  case O_VERSION:
    set_str(p, &o->version, v);
    return;
  case O_MULTI:
    two_words(p, k, v, "Multiple", "Single", &o->multiple);
    free(v);
    return;
  case O_MAND:
    two_words(p, k, v, "Mandatory", "Optional", &o->mandatory);
    free(v);
    return;
  default: /* LWM2MVersion, Description2: read, not kept */
    free(v);
  }
}

static void end_item_leaf(parse *p, kind k, char *v) {
  lmm_res_def *r = &p->res;
  switch (k) {
  case R_NAME:
    if (!v) fail_at(p, line_now(p), "<Item ID=\"%u\">: <Name> is empty", r->id);
    set_str(p, &r->name, v);
    return;
  case R_OPS: {
    static const struct {
      const char *text;
      unsigned ops;
    } ops[] = {
        {"", 0}, {"R", LMM_OP_R}, {"W", LMM_OP_W}, {"RW", LMM_OP_R | LMM_OP_W}, {"E", LMM_OP_E}};
    size_t i = 0;
    while (i < N_OF(ops) && strcmp(ops[i].text, v ? v : ""))
      i++;
    if (i == N_OF(ops))
      fail_at(p, line_now(p),
              "<Item ID=\"%u\">: <Operations> '%s' is not R, W, RW, E or empty (no operation)",
              r->id, v);
    else
      r->ops = ops[i].ops;
    free(v);
    return;
  }
  case R_MULTI:
    two_words(p, k, v, "Multiple", "Single", &r->multiple);
    free(v);
    return;
  case R_MAND:
    two_words(p, k, v, "Mandatory", "Optional", &r->mandatory);
    free(v);
    return;
  case R_TYPE: {
    size_t i = 0;
    while (i < N_OF(types) && strcmp(types[i].text, v ? v : ""))
      i++;
    if (i == N_OF(types))
      fail_at(p, line_now(p),
              "<Item ID=\"%u\">: <Type> '%s' is not a DDF type (String, Integer, Unsigned "
              "Integer, Float, Boolean, Opaque, Time, Objlnk, Corelnk, or empty for an "
              "executable)",
              r->id, v);
    else
      r->type = types[i].type;
    free(v);
    return;
  }
  case R_RANGE:
    set_str(p, &r->range, v);
    return;
  case R_UNITS:
    set_str(p, &r->units, v);
    return;
  default: /* R_DESC */
    set_str(p, &r->description, v);
  }
}

/* ------------------------------------------------------------------ elements */

static bool begin_object(parse *p) {
  p->obj = calloc(1, sizeof *p->obj);
  if (!p->obj) return false;
  p->obj_line = line_now(p);
  p->seen_obj = 0;
  p->res_cap = 0;
  return true;
}

static void begin_item(parse *p, const XML_Char **attrs) {
  memset(&p->res, 0, sizeof p->res);
  p->item_line = line_now(p);
  p->seen_item = 0;
  const char *id_s = NULL;
  for (int i = 0; attrs[i]; i += 2) {
    if (!strcmp(attrs[i], "ID"))
      id_s = attrs[i + 1];
    else
      return fail_at(p, p->item_line, "<Item>: unknown attribute '%s'", attrs[i]);
  }
  long id = parse_id(id_s);
  if (!id_s)
    fail_at(p, p->item_line, "<Item>: the ID attribute is missing");
  else if (id == -1)
    fail_at(p, p->item_line, "<Item ID=\"%s\">: the ID is not a number", id_s);
  else if (id == -2)
    fail_at(p, p->item_line, "<Item ID=\"%s\">: the ID is out of range (0 to 65534)", id_s);
  else
    p->res.id = (uint16_t)id;
}

static void end_item(parse *p) {
  lmm_obj_def *o = p->obj;
  lmm_res_def *r = &p->res;
  static const kind need[] = {R_NAME, R_OPS, R_MULTI, R_MAND, R_TYPE};
  for (size_t i = 0; i < N_OF(need); i++)
    if (!(p->seen_item & (1u << (need[i] - R_NAME))))
      return fail_at(p, p->item_line, "<Item ID=\"%u\">: <%s> is missing", r->id, tag_of(need[i]));
  /* Only an executable has no value; an empty Type elsewhere leaves no way to read or write
   * the resource. */
  if (r->type == LMM_RT_NONE && r->ops != LMM_OP_E && r->ops != 0)
    return fail_at(p, p->item_line,
                   "<Item ID=\"%u\">: <Type> is empty, but only an executable (E) resource has "
                   "no type",
                   r->id);
  for (size_t i = 0; i < o->n_res; i++)
    if (o->res[i].id == r->id)
      return fail_at(p, p->item_line,
                     "<Item ID=\"%u\">: resource %u of object '%s' is defined twice (first at "
                     "line %lu)",
                     r->id, r->id, o->name ? o->name : "?", p->res_lines[i]);
  if (o->n_res == p->res_cap) {
    size_t nc = p->res_cap ? p->res_cap * 2 : 16;
    lmm_res_def *nr = realloc((lmm_res_def *)o->res, nc * sizeof *nr);
    if (!nr) return fail_nomem(p);
    o->res = nr;
    unsigned long *nl = realloc(p->res_lines, nc * sizeof *nl);
    if (!nl) return fail_nomem(p);
    p->res_lines = nl;
    p->res_cap = nc;
  }
  ((lmm_res_def *)o->res)[o->n_res] = *r;
  p->res_lines[o->n_res++] = p->item_line;
  memset(r, 0, sizeof *r); /* moved into the object */
}

static void end_object(parse *p) {
  lmm_obj_def *o = p->obj;
  static const kind need[] = {O_NAME, O_ID, O_MULTI, O_MAND, E_RESOURCES};
  for (size_t i = 0; i < N_OF(need); i++) {
    unsigned bit = need[i] == E_RESOURCES ? 1u << 31 : 1u << (need[i] - O_NAME);
    if (!(p->seen_obj & bit))
      return fail_at(p, p->obj_line, "<Object>%s%s: <%s> is missing", o->name ? " " : "",
                     o->name ? o->name : "", tag_of(need[i]));
  }
  if (!o->n_res)
    return fail_at(p, p->obj_line, "<Object> %s: <Resources> holds no <Item>", o->name);
  for (size_t i = 0; i < p->done.n; i++)
    if (p->done.defs[i]->oid == o->oid)
      return fail_at(p, p->obj_line, "<Object> %s: object %u is defined twice in this file",
                     o->name, o->oid);
  if (!o->version) { /* LwM2M: an object without ObjectVersion is version 1.0 */
    bool ok = true;
    o->version = dup_trim("1.0", 3, &ok);
    if (!ok) return fail_nomem(p);
  }
  if (!lmmi_ddf_list_push(&p->done, o)) return fail_nomem(p);
  p->obj = NULL;
}

static kind child_kind(kind parent, const char *tag) {
  for (size_t i = 0; i < N_OF(grammar); i++)
    if (grammar[i].parent == parent && !strcmp(grammar[i].tag, tag)) return grammar[i].self;
  return E_NONE;
}

static void XMLCALL on_start(void *user, const XML_Char *tag, const XML_Char **attrs) {
  parse *p = user;
  if (p->failed) return;
  kind parent = p->depth ? p->stack[p->depth - 1] : E_NONE;
  if (parent >= O_NAME)
    return fail_at(p, line_now(p), "<%s> may hold only text, not <%s>", tag_of(parent), tag);
  kind k = child_kind(parent, tag);
  if (k == E_NONE) {
    if (parent == E_NONE)
      return fail_at(p, line_now(p), "the root element is <%s>, not <LWM2M>: not a DDF file", tag);
    return fail_at(p, line_now(p), "unexpected <%s> in <%s>", tag, tag_of(parent));
  }
  if (p->depth == DEPTH_MAX) return fail_at(p, line_now(p), "elements nested too deep");
  /* Each leaf once: a second <Type> would silently replace the first. */
  unsigned *seen = parent == E_OBJECT ? &p->seen_obj : parent == E_ITEM ? &p->seen_item : NULL;
  if (seen) {
    unsigned bit = k == E_RESOURCES ? 1u << 31 : 1u << (k - (parent == E_OBJECT ? O_NAME : R_NAME));
    if (*seen & bit)
      return fail_at(p, line_now(p), "<%s> appears twice in <%s>", tag, tag_of(parent));
    *seen |= bit;
  }
  p->stack[p->depth++] = k;
  p->tlen = 0;
  if (k == E_OBJECT && !begin_object(p)) return fail_nomem(p);
  if (k == E_ITEM) begin_item(p, attrs);
}

static void XMLCALL on_end(void *user, const XML_Char *tag) {
  parse *p = user;
  (void)tag;
  if (p->failed) return;
  kind k = p->stack[--p->depth];
  if (k >= O_NAME) {
    bool ok = true;
    char *v = dup_trim(p->text ? p->text : "", p->tlen, &ok);
    if (!ok) return fail_nomem(p);
    if (k <= O_DESC2)
      end_object_leaf(p, k, v);
    else
      end_item_leaf(p, k, v);
  } else if (k == E_ITEM) {
    end_item(p);
  } else if (k == E_OBJECT) {
    end_object(p);
  }
}

static void XMLCALL on_text(void *user, const XML_Char *s, int len) {
  parse *p = user;
  if (p->failed || len <= 0) return;
  kind k = p->depth ? p->stack[p->depth - 1] : E_NONE;
  if (k < O_NAME) { /* between elements only white space belongs */
    for (int i = 0; i < len; i++)
      if (!isspace((unsigned char)s[i]))
        return fail_at(p, line_now(p), "text directly inside <%s>", tag_of(k));
    return;
  }
  if (p->tlen + (size_t)len > LMMI_DDF_MAX_TEXT)
    return fail_at(p, line_now(p), "<%s> is longer than %u bytes", tag_of(k), LMMI_DDF_MAX_TEXT);
  if (p->tlen + (size_t)len + 1 > p->tcap) {
    size_t nc = (p->tlen + (size_t)len + 1) * 2;
    char *nt = realloc(p->text, nc);
    if (!nt) return fail_nomem(p);
    p->text = nt, p->tcap = nc;
  }
  memcpy(p->text + p->tlen, s, (size_t)len);
  p->tlen += (size_t)len;
}

/* No DTD at all: DDF files have none, and refusing it refuses every entity definition (no
 * expansion, no external fetch) before Expat acts on one. */
static void XMLCALL on_doctype(void *user, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal) {
  (void)name, (void)sysid, (void)pubid, (void)has_internal;
  parse *p = user;
  fail_at(p, line_now(p), "a DOCTYPE is not allowed in a DDF file (no DTD, no entities)");
}

static void XMLCALL on_entity(void *user, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation) {
  (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
  (void)pubid, (void)notation;
  fail_at(user, line_now(user), "entity declarations are not allowed in a DDF file");
}

lmm_err lmmi_ddf_parse(const char *name, const void *buf, size_t len, lmmi_ddf_list *out, char *why,
                       size_t why_cap) {
  parse p = {.name = name ? name : "(memory)", .why = why, .why_cap = why_cap};
  if (why && why_cap) why[0] = '\0';
  if (!out || (!buf && len)) return LMM_ERR_ARG;
  if (len > LMMI_DDF_MAX_BYTES) {
    if (why && why_cap)
      snprintf(why, why_cap, "%s: %zu bytes is more than a DDF file may have (%u)", p.name, len,
               LMMI_DDF_MAX_BYTES);
    return LMM_ERR_ARG;
  }
  p.xp = XML_ParserCreate(NULL);
  if (!p.xp) return LMM_ERR_NOMEM;
  XML_SetUserData(p.xp, &p);
  XML_SetElementHandler(p.xp, on_start, on_end);
  XML_SetCharacterDataHandler(p.xp, on_text);
  XML_SetStartDoctypeDeclHandler(p.xp, on_doctype);
  XML_SetEntityDeclHandler(p.xp, on_entity);
  XML_SetParamEntityParsing(p.xp, XML_PARAM_ENTITY_PARSING_NEVER);
  enum XML_Status st = XML_Parse(p.xp, buf ? buf : "", (int)len, XML_TRUE);
  if (st != XML_STATUS_OK && !p.failed) {
    enum XML_Error e = XML_GetErrorCode(p.xp);
    fail_at(&p, line_now(&p), "not well-formed XML: %s (column %lu)", XML_ErrorString(e),
            (unsigned long)XML_GetCurrentColumnNumber(p.xp) + 1);
  }
  if (!p.failed && !p.done.n) fail_at(&p, line_now(&p), "no <Object> in the file");
  lmm_err rc = p.nomem ? LMM_ERR_NOMEM : p.failed ? LMM_ERR_ARG : LMM_OK;
  /* Appended only when everything parsed: a caller never sees half a file. */
  for (size_t i = 0; rc == LMM_OK && i < p.done.n; i++)
    if (!lmmi_ddf_list_push(out, p.done.defs[i])) {
      out->n -= i; /* give back what was appended; the list still owns all of them */
      rc = LMM_ERR_NOMEM;
    }
  if (rc == LMM_OK) {
    free(p.done.defs);
  } else {
    lmmi_ddf_list_clear(&p.done);
  }
  lmmi_ddf_def_free(p.obj);
  lmmi_ddf_res_clear(&p.res);
  free(p.res_lines);
  free(p.text);
  XML_ParserFree(p.xp);
  return rc;
}
