/* peers.c — a count per peer address in a fixed array of buckets. An entry
 * lives only while its count is above 0, so the table holds at most one
 * entry per connection not yet welcomed. */
#include "peers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define PEERS__BUCKETS 1024 /* a power of 2 */

typedef struct peers__entry_s {
  struct peers__entry_s *next;
  uint32_t count;
  char addr[]; /* NUL-terminated */
} peers__entry_t;

struct peers_s {
  peers__entry_t *buckets[PEERS__BUCKETS];
};

peers_t *peers_new(void) { return calloc(1, sizeof(peers_t)); }

void peers_free(peers_t *peers) {
  if (!peers) return;
  for (size_t i = 0; i < PEERS__BUCKETS; i++)
    while (peers->buckets[i]) {
      peers__entry_t *next = peers->buckets[i]->next;
      free(peers->buckets[i]);
      peers->buckets[i] = next;
    }
  free(peers);
}

/* FNV-1a. */
static peers__entry_t **peers__find(peers_t *peers, const char *addr) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)addr; *p; p++) h = (h ^ *p) * 16777619u;
  peers__entry_t **e = &peers->buckets[h & (PEERS__BUCKETS - 1)];
  while (*e && strcmp((*e)->addr, addr) != 0) e = &(*e)->next;
  return e;
}

uint32_t peers_add(peers_t *peers, const char *addr) {
  peers__entry_t **e = peers__find(peers, addr);
  if (!*e) {
    size_t n = strlen(addr) + 1;
    peers__entry_t *fresh = calloc(1, sizeof *fresh + n);
    if (!fresh) return 0;
    memcpy(fresh->addr, addr, n);
    *e = fresh;
  }
  return ++(*e)->count;
}

void peers_drop(peers_t *peers, const char *addr) {
  peers__entry_t **e = peers__find(peers, addr);
  assert(*e && (*e)->count > 0);
  if (!*e) return;
  if (--(*e)->count == 0) {
    peers__entry_t *gone = *e;
    *e = gone->next;
    free(gone);
  }
}
