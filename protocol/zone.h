/* zone.h — an IANA time zone ("Europe/Amsterdam") read from the system's
 * time zone database: the UTC offset at an instant, and the local date and
 * time there. Every organisation has one (orgs.tz, the welcome's `tz`):
 * "today", report periods and the times shown are the organisation's,
 * whatever zone the server or the tablet runs in.
 *
 * zone_load reads one file (under $TZDIR, else /usr/share/zoneinfo): call
 * it where blocking on the disk is allowed, never on the event loop. A
 * loaded zone is immutable and may be shared between threads. */
#ifndef TURF_ZONE_H
#define TURF_ZONE_H

#include <stdbool.h>
#include <stdint.h>

#define ZONE_NAME_MAX 64          /* bytes, without the NUL */
#define ZONE_DEFAULT "Europe/Amsterdam"

typedef struct zone zone_t;

/* Whether name has the shape of a zone name: letters, digits and "/_+-",
 * no empty part, no "." (nothing outside the database can be named). It
 * says nothing about whether the zone exists: zone_load does. */
bool zone_name_valid(const char *name);

/* The zone `name`, or NULL when it is not a valid name, not in the
 * database or not a readable TZif file. Free with zone_free. */
zone_t *zone_load(const char *name);
void zone_free(zone_t *zone);
const char *zone_name(const zone_t *zone);

/* The zone `name` loaded once per process and kept until it exits (for
 * threads that serve many organisations); NULL as zone_load. Blocks on the
 * disk the first time a name is asked for. */
const zone_t *zone_cached(const char *name);

/* Seconds east of UTC at Unix time t (seconds). */
int32_t zone_offset(const zone_t *zone, int64_t t);

/* The local date ("YYYY-MM-DD") and time of day ("HH:MM") of `ms`
 * (milliseconds since the epoch) in the zone. */
void zone_date(const zone_t *zone, int64_t ms, char date[11]);
void zone_hhmm(const zone_t *zone, int64_t ms, char hhmm[6]);

/* The ISO weekday there: Monday 1 .. Sunday 7. */
int zone_weekday(const zone_t *zone, int64_t ms);

#endif
