/* verify.h — what the harness checks in the databases once a run is quiet.
 *
 * Two independent views of the same truth:
 *   - a canonical dump of every materialised table of one organisation
 *     (any replica: the server's file with its org id, a tablet's file with
 *     org 0), hashed with SHA-256, so that replicas can be compared;
 *   - a model: the merge rules of PROTOCOL.md section 4.2, written again
 *     here from the text (not from merge.c), replayed over the server's op
 *     log in server_seq order, which must give exactly the server's tables
 *     and exactly its conflict log.
 *
 * Failures are printed to stderr (the first few of each kind) and counted;
 * every function returns the number of failures it found, or -1 when it
 * could not read the database. */
#ifndef TURF_CHAOS_VERIFY_H
#define TURF_CHAOS_VERIFY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define VERIFY_HEX_LEN 64

/* Writes the canonical dump of organisation org in db to *text (caller
 * frees) and its SHA-256 as hex to hex. Included: every record table
 * (counter tables per device slot), message author and posted time, and
 * the clock of every last-writer-wins field (which must converge too, or
 * later merges would differ). Not included: MIN/MAX/ONCE clocks (a tie
 * between equal values may keep either writer's clock, harmlessly), the
 * conflict log (the server's alone), sync bookkeeping. Returns 0 or -1. */
int verify_dump(sqlite3 *db, int64_t org, char **text, size_t *len,
                char hex[VERIFY_HEX_LEN + 1]);

/* Prints where two dumps first differ. Cannot fail. */
void verify_print_diff(const char *name_a, const char *a, const char *name_b, const char *b);

typedef struct {
  uint64_t ops;         /* ops in the log */
  uint64_t fields;      /* field values replayed */
  uint64_t records;     /* records compared */
  uint64_t conflicts;   /* conflict log entries expected (and found) */
  uint64_t causal;      /* pairs "B was written after its device saw A"
                           checked to order B after A */
} verify_model_stats_t;

/* Replays the server's op log of org through the model and compares. */
int verify_model(sqlite3 *server_db, int64_t org, verify_model_stats_t *stats);

#endif
