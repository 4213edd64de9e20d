/* sim.h — many simulated tablets in one process and one loop, to exercise
 * the server and the merge rules the way a busy morning does: every tablet
 * enrols, records random ops offline (check-ins of the same people on the
 * same sessions, walk-ins, tallies, messages, session logs — overlapping on
 * purpose so that real merges happen), then all connect at once and sync
 * until nothing is left to push or pull. Converged means every tablet's
 * canonical dump (tablet_print_dump) is byte-identical. */
#ifndef TURF_SIM_H
#define TURF_SIM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  const char *server; /* ws:// URL of turfd */
  const char *code;   /* enrolment code allowing `tablets` uses */
  const char *dir;    /* one local file per tablet is created here */
  uint32_t tablets;
  uint32_t ops;       /* ops recorded offline per tablet */
  uint64_t seed;      /* of the random choices */
  uint32_t timeout_s; /* limit of each online phase (s) */
} sim_options_t;

typedef struct {
  uint64_t ops;      /* recorded by all tablets */
  uint64_t acked;
  uint64_t rejected;
  uint64_t waiting;  /* still in some outbox at the end */
  bool converged;
  double seconds;    /* of the final sync phase (s) */
} sim_result_t;

/* Runs the simulation. Returns 0 when it ran to the end (whether or not it
 * converged: see result), or a negative PROTO_E* code after printing why to
 * stderr (a tablet could not enrol, a file could not be written). */
int sim_run(const sim_options_t *opts, sim_result_t *result);

#endif
