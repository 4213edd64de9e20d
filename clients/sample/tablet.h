/* tablet.h — what a teacher does on the tablet, on top of the local file:
 * find what they point at (a session by the start of its activity's name,
 * a person by name), record check-ins, walk-ins, tallies, messages and
 * session logs as ops, and print the views (today's sessions, attendance,
 * messages, a canonical dump for comparing replicas).
 *
 * "Today" and every recorded time use the corrected clock (local_now), so a
 * tablet whose clock is wrong shows the right day once it has synced. Times
 * print as local HH:MM. Everything here works offline.
 *
 * Lookups and commands print a one-line reason to stderr when they fail
 * (no such session, ambiguous name, refused op) and return a negative
 * PROTO_E* code: PROTO_EBAD_FIELD for an argument that names nothing or
 * several things, the replica's refusal (PROTO_EINVALID_OP,
 * PROTO_ENOT_AUTHOR), or PROTO_ESTORAGE. */
#ifndef TURF_TABLET_H
#define TURF_TABLET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "local.h"

#define TABLET_ID_SIZE (PROTO_MAX_ID_BYTES + 1)

/* Resolves an argument to a record id (copied into id). */
int tablet_find_session(local_t *local, const char *arg, char id[TABLET_ID_SIZE]);
int tablet_find_person(local_t *local, const char *arg, char id[TABLET_ID_SIZE]);
int tablet_find_activity(local_t *local, const char *arg, char id[TABLET_ID_SIZE]);

/* Recording. Ids are resolved ones. Returns 0 or a negative code. */
int tablet_checkin(local_t *local, const char *session, const char *person);
int tablet_checkout(local_t *local, const char *session, const char *person);
/* status NULL withdraws the check-in (nil): the person reads as not
 * checked in, as if the tap had never happened. */
int tablet_set_status(local_t *local, const char *session, const char *person,
                      const char *status);
/* A new participant (first seen now; referral and contact may be NULL)
 * checked in at once; the new id is copied to id_out. */
int tablet_walkin(local_t *local, const char *session, const char *name, const char *referral,
                  const char *contact, char id_out[TABLET_ID_SIZE]);
/* Adds delta (may be negative) to this device's counter for session; the
 * op carries the new absolute count, copied to *count_out (may be NULL). */
int tablet_tally(local_t *local, const char *session, int64_t delta, int64_t *count_out);
int tablet_post(local_t *local, const char *activity, const char *text,
                char id_out[TABLET_ID_SIZE]);
int tablet_edit(local_t *local, const char *message, const char *text);
int tablet_delete(local_t *local, const char *message);
/* headcount < 0 and notes == NULL leave those fields alone. */
int tablet_log(local_t *local, const char *session, bool start, bool end, int64_t headcount,
               const char *notes);

/* Views, printed to out. session / activity are resolved ids or NULL. */
int tablet_print_sessions(local_t *local, FILE *out);
int tablet_print_people(local_t *local, FILE *out);
int tablet_print_attendance(local_t *local, const char *session, FILE *out);
int tablet_print_messages(local_t *local, const char *activity, FILE *out);
int tablet_print_attention(local_t *local, FILE *out);
int tablet_print_dump(local_t *local, FILE *out);

/* Prints column col of st's current row as dump does, so that different
 * values never print alike: NULL as \N, integers in decimal, text with
 * backslash, tab and newline escaped. */
void tablet_print_value(sqlite3_stmt *st, int col, FILE *out);

/* Corrected local date "YYYY-MM-DD" of local_now. Cannot fail. */
void tablet_today(local_t *local, char date[11]);

#endif
