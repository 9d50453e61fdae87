/* op_model.c - the object model on the command line: --objects / LMM_OBJECTS, and the one
 * rule every operation path passes (known resource and allowed operation, or an explicit
 * :TYPE for what the model lacks). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int load_one(cli *c, const char *origin, const char *dir) {
  if (lmm_objects_load_dir(c->objects, dir) != LMM_OK) {
    cli_err(c, "%s %s: %s", origin, dir, lmm_objects_errmsg(c->objects));
    return EXIT_USAGE;
  }
  return 0;
}

int cli_objects_load(cli *c, const char *const *dirs, size_t n) {
  if (!c->objects && lmm_objects_new(&c->objects) != LMM_OK) {
    cli_err(c, "out of memory");
    return EXIT_SOME_FAILED;
  }
  int rc = 0;
  /* The environment first, then the flags; a directory named twice is read once (the same
   * definitions twice would be a redefinition). */
  const char *env = getenv("LMM_OBJECTS");
  char *copy = env && *env ? strdup(env) : NULL;
  if (env && *env && !copy) return EXIT_SOME_FAILED;
  const char *seen[64];
  size_t n_seen = 0;
  for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; !rc && d;
       d = strtok_r(NULL, ":", &save)) {
    bool dup = false;
    for (size_t k = 0; k < n_seen; k++)
      dup |= !strcmp(seen[k], d);
    if (dup) continue;
    if (n_seen < sizeof seen / sizeof seen[0]) seen[n_seen++] = d;
    rc = load_one(c, "LMM_OBJECTS", d);
  }
  for (size_t i = 0; !rc && i < n; i++) {
    bool dup = false;
    for (size_t k = 0; k < n_seen; k++)
      dup |= !strcmp(seen[k], dirs[i]);
    if (dup) continue;
    if (n_seen < sizeof seen / sizeof seen[0]) seen[n_seen++] = dirs[i];
    rc = load_one(c, "--objects", dirs[i]);
  }
  free(copy);
  return rc;
}

const lmm_obj_def *cli_obj_def(const cli *c, uint16_t oid, uint16_t gm_oid, lmm_obj_def *buf) {
  /* The group's Group Mgmt ID first: the campaign writes that object with the library's own
   * definition, so the check must use the same one. */
  if (oid == gm_oid) {
    lmm_group_mgmt_def(gm_oid, buf);
    return buf;
  }
  return lmm_objects_get(c->objects, oid);
}

static const char *const rtype_words[] = {"none",    "string", "integer", "unsigned", "float",
                                          "boolean", "opaque", "time",    "objlnk",   "corelnk"};

const char *cli_rtype_word(lmm_rtype t) {
  return t <= LMM_RT_CORELNK ? rtype_words[t] : "?";
}

static bool parse_rtype(const char *s, lmm_rtype *t) {
  for (size_t i = 0; i < sizeof rtype_words / sizeof rtype_words[0]; i++)
    if (!strcmp(s, rtype_words[i])) {
      *t = (lmm_rtype)i;
      return true;
    }
  return false;
}

static const char *ops_text(unsigned ops) {
  static const char *const t[] = {"none", "R", "W", "RW", "E", "RE", "WE", "RWE"};
  return t[ops & 7];
}

/* What the operator would type for the resource with a type given, in the flag's syntax. */
static const char *typed_example(lmm_op_kind kind) {
  switch (kind) {
  case LMM_OPK_WRITE:
    return ":string=VALUE";
  case LMM_OPK_EXECUTE:
    return ":none";
  case LMM_OPK_WRITE_ATTR:
    return ":integer?QUERY";
  default:
    return ":string";
  }
}

int cli_op_target(const cli *c, const char *flag, lmm_op_kind kind, const char *text,
                  uint16_t gm_oid, bool fmt_given, uint16_t fmt, cli_target *t) {
  char path_s[64];
  memset(t, 0, sizeof *t);
  const char *colon = strchr(text, ':');
  size_t pl = colon ? (size_t)(colon - text) : strlen(text);
  if (pl >= sizeof path_s) return cli_usage(c, "%s: path too long", flag);
  memcpy(path_s, text, pl);
  path_s[pl] = '\0';
  if (lmm_path_parse(path_s, &t->path) != LMM_OK)
    return cli_usage(c,
                     "%s: '%s' is not an LwM2M path (/OBJECT[/INSTANCE[/RESOURCE[/INSTANCE]]], "
                     "numbers 0 to 65534)",
                     flag, path_s);
  if (colon && !parse_rtype(colon + 1, &t->given))
    return cli_usage(c,
                     "%s: '%s' is not a resource type (string integer unsigned float boolean "
                     "opaque time objlnk corelnk none)",
                     flag, colon + 1);
  t->has_given = colon != NULL;
  const lmm_path *p = &t->path;
  if (kind == LMM_OPK_DISCOVER) { /* the way to find out what a device has: no model needed */
    if (t->has_given) return cli_usage(c, "%s: a Discover takes no :TYPE", flag);
    return 0;
  }
  if (kind == LMM_OPK_EXECUTE && p->depth != 3)
    return cli_usage(c, "%s: '%s' is not a resource (/OBJECT/INSTANCE/RESOURCE)", flag, path_s);
  /* t->def may point into t itself (Group Mgmt): a target is filled in place, never copied. */
  const lmm_obj_def *def = t->def = cli_obj_def(c, p->oid, gm_oid, &t->gm_buf);
  if (p->depth < 3) {
    if (t->has_given)
      return cli_usage(c, "%s: %s: a :TYPE names a resource's type; this path names %s", flag,
                       path_s, p->depth == 1 ? "an object" : "an instance");
    if (!def)
      return cli_usage(c,
                       "%s: %s: object %u is not in the object model (load its DDF with "
                       "--objects DIR)",
                       flag, path_s, p->oid);
    return 0; /* a whole instance or object: every operation checks its own body */
  }
  t->res = def ? lmm_obj_def_res(def, p->rid) : NULL;
  const lmm_res_def *r = t->res;
  if (!r) {
    if (!t->has_given) {
      if (def)
        return cli_usage(c,
                         "%s: %s: object %u (%s) has no resource %u in the object model (give "
                         "its type: %s%s, or load its DDF with --objects DIR)",
                         flag, path_s, p->oid, def->name, p->rid, path_s, typed_example(kind));
      return cli_usage(c,
                       "%s: %s: object %u is not in the object model (give the resource's type: "
                       "%s%s, or load its DDF with --objects DIR)",
                       flag, path_s, p->oid, path_s, typed_example(kind));
    }
    if (kind == LMM_OPK_EXECUTE && t->given != LMM_RT_NONE)
      return cli_usage(c, "%s: %s: an Execute carries no value: the type is :none", flag, path_s);
    if (kind != LMM_OPK_EXECUTE && t->given == LMM_RT_NONE)
      return cli_usage(c, "%s: %s: :none is for --execute (a resource without a value)", flag,
                       path_s);
    t->type = t->given;
    return 0;
  }
  /* A known resource: the model decides, and a :TYPE may only agree with it. */
  t->type = r->type;
  if (t->has_given && t->given != r->type)
    return cli_usage(c, "%s: %s (%s) is %s in the object model, not %s", flag, path_s, r->name,
                     cli_rtype_word(r->type), cli_rtype_word(t->given));
  if (p->depth == 4 && !r->multiple)
    return cli_usage(c, "%s: %s (%s) is a single-instance resource: it has no instance %u", flag,
                     path_s, r->name, p->riid);
  switch (kind) {
  case LMM_OPK_EXECUTE:
    if (!(r->ops & LMM_OP_E))
      return cli_usage(c, "%s: %s (%s) is not executable (operations: %s)", flag, path_s, r->name,
                       ops_text(r->ops));
    return 0;
  case LMM_OPK_WRITE:
    if (r->type == LMM_RT_NONE)
      return cli_usage(c, "%s: %s (%s) is executable: use --execute", flag, path_s, r->name);
    if (!(r->ops & LMM_OP_W))
      return cli_usage(c, "%s: %s (%s) is not writable (operations: %s)", flag, path_s, r->name,
                       ops_text(r->ops));
    if (p->depth == 3 && r->multiple)
      return cli_usage(c,
                       "%s: %s (%s) is a multiple-instance resource: write one instance "
                       "(%s/ID=VALUE)",
                       flag, path_s, r->name, path_s);
    return 0;
  default: /* Read, Write-Attributes: both act on what can be read */
    if (r->type == LMM_RT_NONE)
      return cli_usage(c, "%s: %s (%s) is executable: it has no value to %s", flag, path_s, r->name,
                       kind == LMM_OPK_READ ? "read" : "observe");
    if (!(r->ops & LMM_OP_R))
      return cli_usage(c, "%s: %s (%s) is not readable (operations: %s)", flag, path_s, r->name,
                       ops_text(r->ops));
    if (kind == LMM_OPK_READ && p->depth == 3 && r->multiple && fmt_given &&
        (fmt == LMM_FMT_TEXT || fmt == LMM_FMT_OPAQUE))
      return cli_usage(c,
                       "%s: %s (%s) is a multiple-instance resource: read it as senml-json or "
                       "tlv, or read one instance (%s/ID)",
                       flag, path_s, r->name, path_s);
    return 0;
  }
}
