/* setup.c — turf-bench-setup: prepares a database for a benchmark before
 * turfd starts: ORGS organisations, each with an enrolment code for USES
 * tablets, made with the administrator's storage API (admin_db.h, what
 * turfctl uses) in one process rather than 2 x ORGS turfctl runs. Prints
 * one line per organisation, "<index> <code>", index 0 first (the
 * organisation with the lowest id, which the dashboard shows first).
 * With PASSWORD, organisation 0 also gets a coordinator "bench" with that
 * password, for the benchmark that watches the dashboard.
 *
 * usage: turf-bench-setup DB ORGS USES [PASSWORD] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin_db.h"
#include "btab.h"
#include "passwd.h"

#define SETUP__CODE_TTL_MS ((int64_t)24 * 60 * 60 * 1000)

int main(int argc, char **argv) {
  char name[64], code[ADMIN_DB_ID_SIZE];
  char hash[PASSWD_HASH_SIZE];
  int64_t now = btab_wall_ms(), org;
  admin_db_t *db;
  long orgs, uses;
  int rc = 0;

  if ((argc != 4 && argc != 5) || (orgs = strtol(argv[2], NULL, 10)) < 1 ||
      (uses = strtol(argv[3], NULL, 10)) < 1) {
    fprintf(stderr, "usage: turf-bench-setup DB ORGS USES [PASSWORD]\n");
    return 2;
  }
  if (argc == 5 && passwd_hash(argv[4], hash, sizeof hash) != 0) {
    fprintf(stderr, "turf-bench-setup: cannot hash that password (at least %d bytes)\n",
            PASSWD_MIN_BYTES);
    return 2;
  }
  db = admin_db_open(argv[1]);
  if (!db) return 1;
  for (long i = 0; i < orgs && rc == 0; i++) {
    snprintf(name, sizeof name, "Bench organisation %ld", i + 1);
    rc = admin_db_org_create(db, name, now, &org);
    if (rc == 0)
      rc = admin_db_enroll(db, org, NULL, 0, SETUP__CODE_TTL_MS, (uint32_t)uses, now, code);
    if (rc == 0 && i == 0 && argc == 5)
      rc = admin_db_coordinator_create(db, org, "bench", "Benchmark", "coordinator", hash, now);
    if (rc == 0) printf("%ld %s\n", i, code);
  }
  admin_db_close(db);
  if (rc != 0) fprintf(stderr, "turf-bench-setup: %s: could not set up (%d)\n", argv[1], rc);
  return rc == 0 ? 0 : 1;
}
