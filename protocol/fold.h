/* fold.h — names as a search compares them: without case, accents or
 * punctuation, so that "ayse" finds Ayşe, "yildiz" finds Yıldız and
 * "brouwer de vries" finds Brouwer-de Vries. The tablet app folds the same
 * way in JavaScript (clients/tablet/fold.js); both pass the shared vectors
 * of protocol/testdata/fold.tsv.
 *
 * Covered: ASCII, Latin (Vietnamese too), Greek and Cyrillic (to lower-case base letters,
 * as Unicode's decomposition gives them) and combining marks (dropped);
 * letters of other scripts pass as they are. Pure code; any thread. */
#ifndef TURF_FOLD_H
#define TURF_FOLD_H

#include <stdbool.h>
#include <stddef.h>

/* The folded form of the UTF-8 text `in` into out (cap bytes, NUL
 * included): lower case, marks removed, apostrophes dropped (O'Brien is
 * "obrien"), every run of anything else that is neither letter nor digit
 * one space, none at either end. Stops at a whole character when out is
 * full. Returns the length written. */
size_t fold_text(const char *in, char *out, size_t cap);

/* Whether every word of the folded query starts a word of the folded name,
 * in any order: "fat bou" and "bouzid" find "fatima bouzid"; "atim" does
 * not. An empty query matches every name. */
bool fold_matches(const char *folded_name, const char *folded_query);

#endif
