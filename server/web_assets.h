/* web_assets.h — the dashboard's files (server/web/), embedded in turfd as
 * byte arrays by server/web/embed.cmake at build time, so that the page
 * always matches the binary serving it and nothing has to be installed or
 * found on disk (see http.c). */
#ifndef TURF_WEB_ASSETS_H
#define TURF_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
  const char *path;           /* "/dashboard/app.js" */
  const char *type;           /* Content-Type */
  const unsigned char *data;  /* the file's bytes */
  size_t len;                 /* bytes */
} web_asset_t;

extern const web_asset_t web_assets[];
extern const size_t web_nassets;

#endif
