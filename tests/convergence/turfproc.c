/* turfproc.c — turfd as a child process (see turfproc.h).
 *
 * Owns the child: it is always reaped by turfproc_signal or
 * turfproc_alive, never left as a zombie or running after the harness. */
#include "turfproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void turfproc__sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Reads "url ws://127.0.0.1:PORT" and "code CODE" from the ready file. */
static int turfproc__read_ready(turfproc_t *t) {
  char line[256];
  FILE *f = fopen(t->ready, "r");
  int port = 0;

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f) != NULL) {
    char *colon;
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "url ", 4) == 0 && (colon = strrchr(line, ':')) != NULL)
      port = atoi(colon + 1);
    else if (strncmp(line, "code ", 5) == 0 && t->code[0] == '\0')
      snprintf(t->code, sizeof(t->code), "%.*s", (int)sizeof(t->code) - 1, line + 5);
  }
  fclose(f);
  if (port <= 0)
    return -1;
  t->port = port;
  return 0;
}

int turfproc_start(turfproc_t *t) {
  char port[16], uses[16];
  pid_t pid, parent;
  int status;

  if (t->pid != 0)
    return 0;
  unlink(t->ready);
  snprintf(port, sizeof(port), "%d", t->port);
  snprintf(uses, sizeof(uses), "%u", t->demo_uses ? t->demo_uses : 100);
  parent = getpid();
  pid = fork();
  if (pid < 0) {
    perror("turfproc: fork");
    return -1;
  }
  if (pid == 0) {
    /* Child: only async-signal-safe calls until exec. */
    const char *argv[16];
    /* turfd goes when the harness goes, however that happens: it never
     * outlives a killed test (nor keeps its tmpfs alive). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
      _exit(126);
    sigset_t none;
    int n = 0, fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    /* turfd must not hold copies of the harness's sockets: a proxy's cut
     * would then send no reset. */
    if (close_range(3, ~0u, 0) != 0)
      for (int i = 3; i < 4096; i++)
        close(i);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* What turfd does about an over-limit write is turfd's own choice. */
    signal(SIGXFSZ, SIG_DFL);
    if (t->fsize_limit > 0) {
      struct rlimit rl;
      getrlimit(RLIMIT_FSIZE, &rl);
      rl.rlim_cur = (rlim_t)t->fsize_limit;
      setrlimit(RLIMIT_FSIZE, &rl);
    }
    argv[n++] = t->turfd;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--db";
    argv[n++] = t->db;
    argv[n++] = "--ready-file";
    argv[n++] = t->ready;
    if (t->starts == 0) {
      argv[n++] = "--demo";
      argv[n++] = "--demo-uses";
      argv[n++] = uses;
    }
    argv[n] = NULL;
    execv(t->turfd, (char *const *)argv);
    _exit(127);
  }
  t->pid = pid;
  for (int i = 0; i < 500; i++) {
    if (access(t->ready, F_OK) == 0 && turfproc__read_ready(t) == 0) {
      t->starts++;
      return 0;
    }
    if (waitpid(pid, &status, WNOHANG) == pid) {
      char why[64];
      t->pid = 0;
      fprintf(stderr, "turfproc: turfd exited during start (%s); see %s\n",
              turfproc_describe(status, why, sizeof(why)), t->log);
      return -1;
    }
    turfproc__sleep_ms(20);
  }
  fprintf(stderr, "turfproc: turfd not ready within 10 s; see %s\n", t->log);
  turfproc_signal(t, SIGKILL);
  return -1;
}

int turfproc_signal(turfproc_t *t, int sig) {
  int status = 0;

  if (t->pid == 0)
    return -1;
  kill(t->pid, sig);
  for (int i = 0; i < 1500; i++) {
    pid_t r = waitpid(t->pid, &status, WNOHANG);
    if (r == t->pid || (r < 0 && errno == ECHILD)) {
      t->pid = 0;
      return status;
    }
    turfproc__sleep_ms(10);
  }
  fprintf(stderr, "turfproc: turfd did not exit within 15 s of signal %d; killing it\n", sig);
  kill(t->pid, SIGKILL);
  waitpid(t->pid, &status, 0);
  t->pid = 0;
  return status;
}

bool turfproc_alive(turfproc_t *t, int *status) {
  int st = 0;
  if (t->pid == 0)
    return false;
  if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
    t->pid = 0;
    if (status != NULL)
      *status = st;
    return false;
  }
  return true;
}

int turfproc_set_fsize(turfproc_t *t, uint64_t bytes) {
  struct rlimit rl;
  if (t->pid == 0)
    return -ESRCH;
  if (prlimit(t->pid, RLIMIT_FSIZE, NULL, &rl) != 0)
    return -errno;
  rl.rlim_cur = bytes == UINT64_MAX ? rl.rlim_max : (rlim_t)bytes;
  if (prlimit(t->pid, RLIMIT_FSIZE, &rl, NULL) != 0)
    return -errno;
  return 0;
}

const char *turfproc_describe(int status, char *buf, size_t size) {
  if (WIFEXITED(status))
    snprintf(buf, size, "exit %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, size, "signal %d", WTERMSIG(status));
  else
    snprintf(buf, size, "status %d", status);
  return buf;
}
