/* bstat.h — samples and their percentiles, and the /proc readings the
 * benchmarks report (CPU seconds and resident memory of a process). */
#ifndef TURF_BENCH_BSTAT_H
#define TURF_BENCH_BSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
  double *v;
  size_t n, cap;
  int sorted;
} bstat_t;

void bstat_init(bstat_t *s);
void bstat_dispose(bstat_t *s);
/* Adds one sample; a sample that cannot be stored (ENOMEM) is counted in
 * nothing and reported once on stderr. */
void bstat_add(bstat_t *s, double v);
/* Nearest-rank percentile p in [0, 100]; 0 when there are no samples. */
double bstat_pct(bstat_t *s, double p);
double bstat_max(bstat_t *s);

/* utime + stime of pid (s), or -1 when it cannot be read. */
double bstat_cpu_s(pid_t pid);
/* CPU seconds (utime + stime) of every thread of pid, in *tids / *cpu
 * (up to max entries). Returns how many, or -1. */
int bstat_threads(pid_t pid, pid_t *tids, double *cpu, int max);
/* Of the threads in (tids0, cpu0) and (tids1, cpu1), the greatest CPU
 * seconds one thread used in between: for turfd, its storage writer. */
double bstat_busiest(const pid_t *tids0, const double *cpu0, int n0, const pid_t *tids1,
                     const double *cpu1, int n1);

/* VmRSS of pid (bytes), or 0 when it cannot be read. */
uint64_t bstat_rss(pid_t pid);
/* TCP payload bytes sent (and acknowledged by the peer) and received on
 * socket fd so far, from the kernel's TCP_INFO; 0 and 0 when fd is not a
 * TCP socket. Here rather than in btab.c because <linux/tcp.h>, which has
 * these counters, clashes with the <netinet/tcp.h> libwebsockets.h pulls
 * in. */
void bstat_tcp_bytes(int fd, uint64_t *out, uint64_t *in);

#endif
