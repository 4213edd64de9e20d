/* store_claim.c — one server per SQLite database: an exclusive flock(2) on
 * the database file, held by a descriptor that stays open until the process
 * exits (the kernel releases it then, also after kill -9). flock locks are
 * apart from the fcntl locks SQLite takes on the same file, and this
 * descriptor is never closed, so closing it cannot drop SQLite's locks. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "store.h"

int store_claim(const char *path) {
  /* 0644 as SQLite creates its files; an empty file is an empty database. */
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno == EWOULDBLOCK ? UV_EBUSY : uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  return 0; /* fd is deliberately kept open: it holds the claim */
}
