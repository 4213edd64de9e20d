/* config.h — turfd's settings: command-line flags, each with a matching
 * environment variable (flag wins), and their defaults. */
#ifndef TURF_CONFIG_H
#define TURF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

typedef struct {
  char listen[64];            /* address to bind (default 127.0.0.1) */
  int port;                   /* TCP port; 0 picks a free one (default 7780) */
  char db[4096];              /* SQLite file (default turf.db) */
  log_level_t log_level;      /* default info */
  bool demo;                  /* seed the demo organisation, print a code */
  uint32_t demo_uses;         /* enrolments the demo code allows */
  char ready_file[4096];      /* written once listening: url and code lines */
  uint32_t max_frame_bytes;   /* one websocket message (bytes) */
  uint32_t max_connections;   /* concurrent websocket connections */
  uint32_t hello_timeout_s;   /* close connections that do not say hello (s) */
  uint32_t max_pending_per_address; /* connections of one address before their
                                 welcome; 0: a quarter of max_connections */
  uint32_t max_pushes_in_flight; /* per connection, before RATE_LIMITED */
  uint32_t max_frames_per_s;  /* per connection, sustained; bursts of 2x */
  uint32_t max_queued_bytes;  /* unsent bytes per connection before it is
                                 dropped as too slow (bytes) */
  uint32_t max_ops_per_push;  /* ops in one push frame before TOO_LARGE */
  uint32_t max_pushes_per_s;  /* per connection, sustained; bursts of 2x */
  uint32_t max_device_connections; /* concurrent connections of one device */
  uint32_t max_device_ops_per_hour; /* ops one device may push an hour, in
                                 bursts of as many (a quota, so that one
                                 device cannot fill the disk) */
  uint32_t max_org_ops_per_hour; /* the same for all devices of an
                                 organisation together */
  char tls_cert[4096];        /* PEM certificate (chain): serve wss/https */
  char tls_key[4096];         /* its PEM private key */
  char public_url[256];       /* how tablets and browsers reach turfd when
                                 that is not the address it listens on
                                 (behind a proxy, on 0.0.0.0); "" if it is */
  char admin_socket[108];     /* unix socket turfctl talks to: "" derives
                                 <db>.sock, "none" turns it off */
  bool permessage_deflate;    /* accept clients' permessage-deflate (default
                                 on: several times fewer bytes for tablets,
                                 some 40 KB more memory per connection) */
} config_t;

/* Fills cfg from defaults, then the environment, then argv. Returns 0 to run,
 * 1 when --help was printed, -1 on a bad flag (message on stderr). */
int config_load(config_t *cfg, int argc, char **argv);

#endif
