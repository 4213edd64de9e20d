/* config.c — parses turfd's flags and environment variables. One table lists
 * every setting once, so --help, the environment and the flags cannot drift
 * apart. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../protocol/proto.h"

typedef enum { CONFIG_STR, CONFIG_U32, CONFIG_PORT, CONFIG_BOOL, CONFIG_LEVEL } config_kind_t;

typedef struct {
  const char *flag;
  const char *env;
  config_kind_t kind;
  size_t offset;
  size_t size; /* CONFIG_STR: buffer size */
  const char *help;
} config_option_t;

#define CONFIG_OPT(flag, env, kind, field, help) \
  {flag, env, kind, offsetof(config_t, field), sizeof(((config_t *)0)->field), help}

static const config_option_t config__options[] = {
    CONFIG_OPT("listen", "TURF_LISTEN", CONFIG_STR, listen,
               "address to listen on (default 127.0.0.1)"),
    CONFIG_OPT("port", "TURF_PORT", CONFIG_PORT, port,
               "TCP port for ws:// and http:// (default 7780; 0 picks a free one)"),
    CONFIG_OPT("db", "TURF_DB", CONFIG_STR, db, "SQLite database file (default turf.db)"),
    CONFIG_OPT("log-level", "TURF_LOG_LEVEL", CONFIG_LEVEL, log_level,
               "error, warn, info or debug (default info)"),
    CONFIG_OPT("demo", "TURF_DEMO", CONFIG_BOOL, demo,
               "create the demo organisation if missing, add today's sessions "
               "and print an enrolment code"),
    CONFIG_OPT("demo-uses", "TURF_DEMO_USES", CONFIG_U32, demo_uses,
               "how many tablets the demo code may enrol (default 20)"),
    CONFIG_OPT("ready-file", "TURF_READY_FILE", CONFIG_STR, ready_file,
               "once listening, write these lines to this file (mode 0600):\n"
               "                             'url ws://HOST:PORT' (wss:// with TLS),\n"
               "                             'dashboard http://HOST:PORT/' (https:// with TLS),\n"
               "                             and with --demo 'code CODE' (tablet enrolment),\n"
               "                             'login demo' and 'password PASSWORD' (the\n"
               "                             dashboard's demo coordinator)"),
    CONFIG_OPT("max-frame-bytes", "TURF_MAX_FRAME_BYTES", CONFIG_U32, max_frame_bytes,
               "largest websocket message accepted (default 1048576)"),
    CONFIG_OPT("max-connections", "TURF_MAX_CONNECTIONS", CONFIG_U32, max_connections,
               "concurrent websocket connections (default 20000)"),
    CONFIG_OPT("hello-timeout", "TURF_HELLO_TIMEOUT", CONFIG_U32, hello_timeout_s,
               "seconds a new connection has to say hello (default 10)"),
    CONFIG_OPT("max-pending-per-address", "TURF_MAX_PENDING_PER_ADDRESS", CONFIG_U32,
               max_pending_per_address,
               "connections one address may hold before their welcome\n"
               "                             (default: a quarter of --max-connections)"),
    CONFIG_OPT("max-pushes-in-flight", "TURF_MAX_PUSHES_IN_FLIGHT", CONFIG_U32,
               max_pushes_in_flight, "unacked pushes per connection (default 16)"),
    CONFIG_OPT("max-frames-per-second", "TURF_MAX_FRAMES_PER_SECOND", CONFIG_U32,
               max_frames_per_s, "frames per second per connection (default 200)"),
    CONFIG_OPT("max-queued-bytes", "TURF_MAX_QUEUED_BYTES", CONFIG_U32, max_queued_bytes,
               "unsent bytes per connection before it is dropped (default 16777216)"),
    CONFIG_OPT("max-ops-per-push", "TURF_MAX_OPS_PER_PUSH", CONFIG_U32, max_ops_per_push,
               "ops one push may carry (default 1000, the protocol's limit)"),
    CONFIG_OPT("max-pushes-per-second", "TURF_MAX_PUSHES_PER_SECOND", CONFIG_U32,
               max_pushes_per_s, "pushes per second per connection (default 100)"),
    CONFIG_OPT("max-device-connections", "TURF_MAX_DEVICE_CONNECTIONS", CONFIG_U32,
               max_device_connections, "concurrent connections of one device (default 4)"),
    CONFIG_OPT("max-device-ops-per-hour", "TURF_MAX_DEVICE_OPS_PER_HOUR", CONFIG_U32,
               max_device_ops_per_hour,
               "ops one device may push an hour, as many at once (default 20000;\n"
               "                             raise it to import a long history from one device)"),
    CONFIG_OPT("max-org-ops-per-hour", "TURF_MAX_ORG_OPS_PER_HOUR", CONFIG_U32,
               max_org_ops_per_hour,
               "ops all devices of one organisation may push an hour (default 200000)"),
    CONFIG_OPT("tls-cert", "TURF_TLS_CERT", CONFIG_STR, tls_cert,
               "PEM certificate (chain): serve wss:// and https:// instead of ws:// and http://"),
    CONFIG_OPT("tls-key", "TURF_TLS_KEY", CONFIG_STR, tls_key,
               "PEM private key of --tls-cert"),
    CONFIG_OPT("public-url", "TURF_PUBLIC_URL", CONFIG_STR, public_url,
               "how browsers reach this turfd when that is not the address it listens\n"
               "                             on: behind a proxy, https://turf.example.org"),
    CONFIG_OPT("admin-socket", "TURF_ADMIN_SOCKET", CONFIG_STR, admin_socket,
               "unix socket turfctl reaches this turfd on (default DB.sock; 'none': off)"),
    CONFIG_OPT("permessage-deflate", "TURF_PERMESSAGE_DEFLATE", CONFIG_BOOL, permessage_deflate,
               "compress frames for clients that ask (default yes; =no saves ~40 KB per "
               "connection)"),
};
#define CONFIG_NOPTIONS (sizeof config__options / sizeof config__options[0])

static void config__defaults(config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1");
  cfg->port = 7780;
  snprintf(cfg->db, sizeof cfg->db, "turf.db");
  cfg->log_level = LOG_INFO;
  cfg->demo_uses = 20;
  cfg->max_frame_bytes = PROTO_MAX_FRAME_BYTES;
  cfg->max_connections = 20000;
  cfg->max_device_ops_per_hour = 20000;
  cfg->max_org_ops_per_hour = 200000;
  cfg->hello_timeout_s = 10;
  cfg->max_pushes_in_flight = 16;
  cfg->max_frames_per_s = 200;
  cfg->max_queued_bytes = 16u << 20;
  cfg->max_ops_per_push = PROTO_MAX_OPS_PER_FRAME;
  cfg->max_pushes_per_s = 100;
  cfg->max_device_connections = 4;
  cfg->permessage_deflate = true;
}

static int config__set(config_t *cfg, const config_option_t *opt, const char *value,
                       const char *source) {
  void *field = (char *)cfg + opt->offset;
  char *end = NULL;
  unsigned long n;

  switch (opt->kind) {
  case CONFIG_STR:
    if (strlen(value) >= opt->size) break;
    memcpy(field, value, strlen(value) + 1);
    return 0;
  case CONFIG_BOOL:
    if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes"))
      *(bool *)field = true;
    else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no"))
      *(bool *)field = false;
    else
      break;
    return 0;
  case CONFIG_U32:
  case CONFIG_PORT:
    errno = 0;
    n = strtoul(value, &end, 10);
    if (errno || end == value || *end || n > UINT32_MAX) break;
    if (opt->kind == CONFIG_PORT) {
      if (n > 65535) break;
      *(int *)field = (int)n;
    } else {
      if (n == 0) break;
      *(uint32_t *)field = (uint32_t)n;
    }
    return 0;
  case CONFIG_LEVEL:
    if (log_parse_level(value, (log_level_t *)field) == 0) return 0;
    break;
  }
  fprintf(stderr, "turfd: invalid value '%s' for %s%s\n", value, source,
          opt->kind == CONFIG_STR ? " (too long)" : "");
  return -1;
}

static void config__usage(FILE *out) {
  fprintf(out,
          "Usage: turfd [options]\n"
          "Turf sync server: tablets sync over ws://HOST:PORT (subprotocol turf.v1),\n"
          "GET /healthz answers on the same port.\n\nOptions (environment variable in brackets):\n");
  for (size_t i = 0; i < CONFIG_NOPTIONS; i++) {
    const config_option_t *o = &config__options[i];
    fprintf(out, "  --%-24s %s [%s]\n", o->flag, o->help, o->env);
  }
  fprintf(out, "  --%-24s %s\n", "help", "print this help and exit");
}

int config_load(config_t *cfg, int argc, char **argv) {
  struct option longopts[CONFIG_NOPTIONS + 2];
  int c, index;

  config__defaults(cfg);
  for (size_t i = 0; i < CONFIG_NOPTIONS; i++) {
    const char *v = getenv(config__options[i].env);
    if (v && *v && config__set(cfg, &config__options[i], v, config__options[i].env))
      return -1;
  }
  for (size_t i = 0; i < CONFIG_NOPTIONS; i++) {
    bool is_bool = config__options[i].kind == CONFIG_BOOL;
    longopts[i] = (struct option){config__options[i].flag,
                                  is_bool ? optional_argument : required_argument, NULL,
                                  (int)i};
  }
  longopts[CONFIG_NOPTIONS] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[CONFIG_NOPTIONS + 1] = (struct option){0};

  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, &index)) != -1) {
    if (c == 'h') {
      config__usage(stdout);
      return 1;
    }
    if (c == '?' || c < 0 || (size_t)c >= CONFIG_NOPTIONS) {
      config__usage(stderr);
      return -1;
    }
    const config_option_t *o = &config__options[c];
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->flag);
    if (config__set(cfg, o, optarg ? optarg : "1", flag)) return -1;
  }
  if (optind < argc) {
    fprintf(stderr, "turfd: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (cfg->max_frame_bytes > PROTO_MAX_FRAME_BYTES) {
    fprintf(stderr, "turfd: --max-frame-bytes cannot exceed %u\n", PROTO_MAX_FRAME_BYTES);
    return -1;
  }
  if (cfg->max_ops_per_push > PROTO_MAX_OPS_PER_FRAME) {
    fprintf(stderr, "turfd: --max-ops-per-push cannot exceed %u\n", PROTO_MAX_OPS_PER_FRAME);
    return -1;
  }
  if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
    fprintf(stderr, "turfd: --tls-cert and --tls-key go together\n");
    return -1;
  }
  return 0;
}
