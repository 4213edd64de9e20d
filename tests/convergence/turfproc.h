/* turfproc.h — the real turfd as a child process of the harness: started
 * on 127.0.0.1 with its own SQLite file, killed (SIGKILL) or stopped
 * (SIGTERM), and restarted on the same port so tablets find it again.
 *
 * A start blocks until turfd has written its ready file (at most 10 s): the
 * harness's loop stands still meanwhile, which the tablets see as one more
 * stall. */
#ifndef TURF_CHAOS_TURFPROC_H
#define TURF_CHAOS_TURFPROC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
  /* set by the caller */
  char turfd[PATH_MAX];   /* the binary */
  char db[PATH_MAX];      /* its database file */
  char log[PATH_MAX];     /* stdout and stderr go here (appended) */
  char ready[PATH_MAX];   /* ready file */
  uint32_t demo_uses;     /* enrolments the demo code allows */
  uint64_t fsize_limit;   /* RLIMIT_FSIZE for turfd (bytes); 0: none */
  /* kept by turfproc */
  int port;               /* 0 until the first start has picked one */
  pid_t pid;              /* 0 when not running */
  char code[65];          /* enrolment code printed by the first start */
  uint32_t starts;
} turfproc_t;

/* Starts turfd (with --demo the first time, to create the organisation and
 * get a code). Returns 0, or -1 after printing why (it exited, or was not
 * ready within 10 s; then it is killed). */
int turfproc_start(turfproc_t *t);
/* Sends sig and waits for the exit (at most 15 s, then SIGKILL). Returns
 * the wait status, or -1 when nothing was running. */
int turfproc_signal(turfproc_t *t, int sig);
/* True while the child runs; reaps it (and clears pid) once it exited, and
 * stores its wait status in *status (may be NULL). */
bool turfproc_alive(turfproc_t *t, int *status);
/* Sets RLIMIT_FSIZE of the running turfd (prlimit). Returns 0 or -errno. */
int turfproc_set_fsize(turfproc_t *t, uint64_t bytes);
/* Short human description of a wait status ("exit 0", "signal 9"). */
const char *turfproc_describe(int status, char *buf, size_t size);

#endif
