/* report.h — what a request for the funder report may ask, checked once at
 * the boundary for both ways of asking: the dashboard's "report" command
 * (dashboard.c) and the download API (api.c). Pure code. */
#ifndef TURF_REPORT_H
#define TURF_REPORT_H

#define REPORT_MAX_YEARS 25 /* the longest period a report covers */

/* NULL when from and to are dates (YYYY-MM-DD), from is not after to, the
 * period spans fewer than 12 * REPORT_MAX_YEARS months (storage lists
 * every month of it), and location and activity are
 * each "" (all) or an id; else why not, in words. */
const char *report_check(const char *from, const char *to, const char *location,
                         const char *activity);

#endif
