/* bstat.c — see bstat.h. */
#include "bstat.h"

#include <dirent.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void bstat_init(bstat_t *s) { memset(s, 0, sizeof *s); }

void bstat_dispose(bstat_t *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

void bstat_add(bstat_t *s, double v) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    double *p = realloc(s->v, cap * sizeof *p);
    if (!p) {
      fprintf(stderr, "bench: out of memory for samples\n");
      return;
    }
    s->v = p;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  s->sorted = 0;
}

static int bstat__cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bstat_pct(bstat_t *s, double p) {
  size_t rank;
  if (!s->n) return 0;
  if (!s->sorted) {
    qsort(s->v, s->n, sizeof *s->v, bstat__cmp);
    s->sorted = 1;
  }
  rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > s->n) rank = s->n;
  return s->v[rank - 1];
}

double bstat_max(bstat_t *s) { return bstat_pct(s, 100); }

static double bstat__stat_cpu(const char *path) {
  char buf[2048];
  unsigned long utime, stime;
  FILE *f;
  size_t n;
  char *p;

  f = fopen(path, "r");
  if (!f) return -1;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold spaces and parentheses: fields start after
   * the last ')'. utime and stime are fields 14 and 15. */
  p = strrchr(buf, ')');
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) != 2)
    return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

double bstat_cpu_s(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  return bstat__stat_cpu(path);
}

int bstat_threads(pid_t pid, pid_t *tids, double *cpu, int max) {
  char path[320];
  struct dirent *e;
  DIR *d;
  int n = 0;

  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  d = opendir(path);
  if (!d) return -1;
  while (n < max && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
    tids[n] = (pid_t)atoi(e->d_name);
    cpu[n] = bstat__stat_cpu(path);
    if (cpu[n] >= 0) n++;
  }
  closedir(d);
  return n;
}

double bstat_busiest(const pid_t *tids0, const double *cpu0, int n0, const pid_t *tids1,
                     const double *cpu1, int n1) {
  double best = 0;
  for (int i = 0; i < n1; i++) {
    double before = 0;
    for (int j = 0; j < n0; j++)
      if (tids0[j] == tids1[i]) before = cpu0[j];
    if (cpu1[i] - before > best) best = cpu1[i] - before;
  }
  return best;
}

uint64_t bstat_rss(pid_t pid) {
  char path[64], line[256];
  unsigned long long kb = 0;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) break;
  fclose(f);
  return (uint64_t)kb * 1024;
}

void bstat_tcp_bytes(int fd, uint64_t *out, uint64_t *in) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  *out = *in = 0;
  memset(&ti, 0, sizeof ti);
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return;
  *out = ti.tcpi_bytes_acked;
  *in = ti.tcpi_bytes_received;
}
