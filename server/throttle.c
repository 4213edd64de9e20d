/* throttle.c — a fixed table of buckets, found by hashing the key and
 * probing a few slots. Tokens are counted in ms of refill time so that the
 * arithmetic stays in integers. */
#include "throttle.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THROTTLE__PROBES 8

typedef struct {
  char key[THROTTLE_KEY_BYTES + 1]; /* "" = free */
  uint64_t debt_ms;                 /* attempts taken, as refill time owed */
  uint64_t at_ms;                   /* when debt_ms was last brought up to date */
} throttle__slot_t;

struct throttle_s {
  uint64_t refill_ms, capacity_ms; /* capacity: burst * refill */
  throttle__slot_t slots[THROTTLE_KEYS];
};

throttle_t *throttle_new(uint32_t burst, uint64_t refill_ms) {
  throttle_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->refill_ms = refill_ms ? refill_ms : 1;
  t->capacity_ms = (uint64_t)(burst ? burst : 1) * t->refill_ms;
  return t;
}

void throttle_free(throttle_t *throttle) { free(throttle); }

/* Pays off what time has refilled since the slot was last looked at. */
static void throttle__settle(throttle__slot_t *s, uint64_t now_ms) {
  uint64_t paid = now_ms > s->at_ms ? now_ms - s->at_ms : 0;
  s->debt_ms = paid >= s->debt_ms ? 0 : s->debt_ms - paid;
  s->at_ms = now_ms;
}

static throttle__slot_t *throttle__slot(throttle_t *t, const char *key, uint64_t now_ms,
                                        bool create) {
  char k[THROTTLE_KEY_BYTES + 1];
  uint32_t h = 2166136261u;
  throttle__slot_t *free_slot = NULL;

  snprintf(k, sizeof k, "%s", key);
  for (const unsigned char *p = (const unsigned char *)k; *p; p++) h = (h ^ *p) * 16777619u;
  for (uint32_t i = 0; i < THROTTLE__PROBES; i++) {
    throttle__slot_t *s = &t->slots[(h + i) % THROTTLE_KEYS];
    if (s->key[0] && strcmp(s->key, k) == 0) return s;
    if (create && !free_slot) {
      if (!s->key[0]) {
        free_slot = s;
      } else {
        throttle__settle(s, now_ms);
        if (s->debt_ms == 0) free_slot = s; /* refilled: nothing to remember */
      }
    }
  }
  if (!create) return NULL;
  if (!free_slot) {
    /* Every probed key is still paying: take the one that owes least. */
    free_slot = &t->slots[h % THROTTLE_KEYS];
    for (uint32_t i = 1; i < THROTTLE__PROBES; i++) {
      throttle__slot_t *s = &t->slots[(h + i) % THROTTLE_KEYS];
      if (s->debt_ms < free_slot->debt_ms) free_slot = s;
    }
  }
  memset(free_slot, 0, sizeof *free_slot);
  memcpy(free_slot->key, k, sizeof k);
  free_slot->at_ms = now_ms;
  return free_slot;
}

uint64_t throttle_take_n(throttle_t *throttle, const char *key, uint32_t n, uint64_t now_ms) {
  throttle__slot_t *s = throttle__slot(throttle, key, now_ms, true);
  uint64_t cost = (uint64_t)n * throttle->refill_ms;
  throttle__settle(s, now_ms);
  if (cost > throttle->capacity_ms) return s->debt_ms ? s->debt_ms : throttle->refill_ms;
  if (s->debt_ms + cost > throttle->capacity_ms)
    return s->debt_ms + cost - throttle->capacity_ms;
  s->debt_ms += cost;
  return 0;
}

uint64_t throttle_take(throttle_t *throttle, const char *key, uint64_t now_ms) {
  return throttle_take_n(throttle, key, 1, now_ms);
}

void throttle_forget(throttle_t *throttle, const char *key) {
  throttle__slot_t *s = throttle__slot(throttle, key, 0, false);
  if (s) memset(s, 0, sizeof *s);
}
