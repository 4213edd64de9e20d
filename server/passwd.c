/* passwd.c — yescrypt password hashes through libxcrypt (see passwd.h).
 * Owns nothing: each call allocates its own crypt_data (it is 32 KiB, too
 * big for a thread-pool stack) and wipes it before freeing. */
#include "passwd.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define PASSWD__PREFIX "$y$" /* yescrypt, libxcrypt's recommended method */

/* A valid hash of a random password, used by passwd_burn. Generated once
 * with passwd_hash's method and cost; what it hashes is irrelevant. */
static const char passwd__decoy[] =
    "$y$j9T$87klTA2rcPMhYfbGxeLWK0$7pHl3HIYYFrKkGHgphcBgglLeYbGJU91JEndug1JsY8";

int passwd_hash(const char *password, char *out, size_t size) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  struct crypt_data *data;
  size_t n = strlen(password);
  int rc = -1;

  if (n < PASSWD_MIN_BYTES || n > PASSWD_MAX_BYTES || size < PASSWD_HASH_SIZE) {
    errno = EINVAL;
    return -1;
  }
  /* NULL random bytes: libxcrypt draws the salt from the OS itself. */
  if (crypt_gensalt_rn(PASSWD__PREFIX, 0, NULL, 0, salt, sizeof(salt)) == NULL)
    return -1;
  data = calloc(1, sizeof(*data));
  if (data == NULL)
    return -1;
  if (crypt_rn(password, salt, data, sizeof(*data)) != NULL && data->output[0] != '*' &&
      strlen(data->output) < size) {
    memcpy(out, data->output, strlen(data->output) + 1);
    rc = 0;
  }
  OPENSSL_cleanse(data, sizeof(*data));
  free(data);
  return rc;
}

bool passwd_verify(const char *password, const char *hash) {
  struct crypt_data *data;
  size_t n;
  bool ok = false;

  if (strlen(password) > PASSWD_MAX_BYTES || strncmp(hash, "$", 1) != 0)
    return false;
  data = calloc(1, sizeof(*data));
  if (data == NULL)
    return false;
  n = strlen(hash);
  if (crypt_rn(password, hash, data, sizeof(*data)) != NULL && data->output[0] != '*' &&
      strlen(data->output) == n)
    ok = CRYPTO_memcmp(data->output, hash, n) == 0;
  OPENSSL_cleanse(data, sizeof(*data));
  free(data);
  return ok;
}

void passwd_burn(const char *password) { (void)passwd_verify(password, passwd__decoy); }
