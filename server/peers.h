/* peers.h — how many connections each peer address holds that have not
 * been welcomed yet, so that one address cannot fill every connection slot
 * with sockets that never say hello (sync.c refuses the one over
 * --max-pending-per-address). Loop thread only. */
#ifndef TURF_PEERS_H
#define TURF_PEERS_H

#include <stdint.h>

typedef struct peers_s peers_t;

/* NULL on ENOMEM. */
peers_t *peers_new(void);
/* Frees the table, counts still held included. Accepts NULL. */
void peers_free(peers_t *peers);

/* Counts one more connection of addr (a peer's address as text). Returns
 * the count after, or 0 when out of memory (nothing counted). */
uint32_t peers_add(peers_t *peers, const char *addr);
/* Counts one connection of addr fewer; it must have been added. */
void peers_drop(peers_t *peers, const char *addr);

#endif
