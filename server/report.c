/* report.c — checking a report's period and scope (report.h). */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "../protocol/proto.h"
#include "../protocol/schema.h"

const char *report_check(const char *from, const char *to, const char *location,
                         const char *activity) {
  if (!schema_date_valid(proto_str(from)) || !schema_date_valid(proto_str(to)))
    return "from and to are dates, YYYY-MM-DD";
  if (strcmp(from, to) > 0)
    return "from is after to";
  /* Counted in months: the months table lists every one of them. */
  int months = (atoi(to) * 12 + atoi(to + 5)) - (atoi(from) * 12 + atoi(from + 5));
  if (months >= 12 * REPORT_MAX_YEARS)
    return "a report covers at most 25 years";
  if (location[0] && !proto_id_valid(proto_str(location)))
    return "location is an id";
  if (activity[0] && !proto_id_valid(proto_str(activity)))
    return "activity is an id";
  return NULL;
}
