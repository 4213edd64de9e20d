/* passwd.h — coordinators' passwords, kept only as crypt(3) strings from
 * libxcrypt's yescrypt: salted (a fresh random salt per password), memory-
 * hard and slow on purpose (tens of milliseconds), so a stolen database
 * does not give the passwords away cheaply. Thread-safe (no shared state);
 * slow: never call on turfd's loop thread. */
#ifndef TURF_PASSWD_H
#define TURF_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWD_HASH_SIZE 384 /* room for any crypt(3) string, NUL included */
#define PASSWD_MIN_BYTES 10  /* shorter passwords are refused */
#define PASSWD_MAX_BYTES 1024

/* Hashes password into out (size >= PASSWD_HASH_SIZE). Returns 0, or -1 when
 * the password is shorter than PASSWD_MIN_BYTES or longer than
 * PASSWD_MAX_BYTES, or hashing failed (errno set). */
int passwd_hash(const char *password, char *out, size_t size);

/* Whether password matches hash (compared in constant time). A malformed
 * hash never matches. */
bool passwd_verify(const char *password, const char *hash);

/* Spends the time a real verification takes, matching nothing, so a login
 * that does not exist answers as slowly as a wrong password. */
void passwd_burn(const char *password);

#endif
