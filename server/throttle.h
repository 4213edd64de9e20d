/* throttle.h — attempts per key (a login name, a peer address) as a token
 * bucket: `burst` attempts at once, then one more every `refill_ms`. Used to
 * slow down password guessing before the slow hash runs (auth.c). The table
 * is bounded (THROTTLE_KEYS): when it is full, a key whose bucket has
 * refilled is forgotten first, so many keys can only make the limit more
 * lenient for keys that have stopped trying, never stricter. Loop thread
 * only. */
#ifndef TURF_THROTTLE_H
#define TURF_THROTTLE_H

#include <stdint.h>

#define THROTTLE_KEYS 4096
#define THROTTLE_KEY_BYTES 64 /* longer keys are cut: logins and addresses fit */

typedef struct throttle_s throttle_t;

/* NULL on ENOMEM. */
throttle_t *throttle_new(uint32_t burst, uint64_t refill_ms);
void throttle_free(throttle_t *throttle); /* accepts NULL */

/* Takes one attempt for key at now (ms, any monotonic clock). Returns 0
 * when it was taken, else the ms until one is there (nothing taken). */
uint64_t throttle_take(throttle_t *throttle, const char *key, uint64_t now_ms);
/* The same for n at once (n above the burst can never be taken: the wait
 * returned is then for a full bucket). */
uint64_t throttle_take_n(throttle_t *throttle, const char *key, uint32_t n, uint64_t now_ms);
/* Gives key its full burst again (a correct password). */
void throttle_forget(throttle_t *throttle, const char *key);

#endif
