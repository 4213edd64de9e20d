/* test_fold.c — the server folds names for search exactly as the tablet app
 * does: every line of the shared vectors (protocol/testdata/fold.tsv, also
 * run by tests/js/test_fold.mjs) folds to its expected form; a word typed
 * must start a word of the name; output is cut at a whole character. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fold.h"

#ifndef TURF_FOLD_VECTORS
#error "TURF_FOLD_VECTORS must name the vectors' file"
#endif

static bool finds(const char *name, const char *query) {
  char n[256], q[256];
  fold_text(name, n, sizeof n);
  fold_text(query, q, sizeof q);
  return fold_matches(n, q);
}

int main(void) {
  FILE *f = fopen(TURF_FOLD_VECTORS, "r");
  char line[512], out[512];
  int vectors = 0, failures = 0;

  CHECK(f != NULL);
  while (fgets(line, sizeof line, f) != NULL) {
    char *tab, *end;
    if (line[0] == '#' || line[0] == '\n')
      continue;
    tab = strchr(line, '\t');
    CHECK(tab != NULL);
    *tab = '\0';
    end = strchr(tab + 1, '\n');
    if (end)
      *end = '\0';
    fold_text(line, out, sizeof out);
    if (strcmp(out, tab + 1) != 0) {
      fprintf(stderr, "fold(\"%s\") = \"%s\", want \"%s\"\n", line, out, tab + 1);
      failures++;
    }
    vectors++;
  }
  fclose(f);
  CHECK(vectors >= 30);
  CHECK_EQ_INT(failures, 0);

  /* Searches, as the tablet's tests/js/test_fold.mjs. */
  CHECK(finds("Ayşe Yıldız", "Ayse Yildiz"));
  CHECK(finds("Ayşe Yıldız", "ayşe"));
  CHECK(finds("Brouwer-de Vries", "vries"));
  CHECK(finds("Fatima Bouzid", "bou fat"));
  CHECK(finds("O'Brien", "obrien"));
  CHECK(finds("Élodie Müller", "ELODIE mull"));
  CHECK(finds("anyone", ""));
  CHECK(!finds("Fatima Bouzid", "atima"));
  CHECK(!finds("Ayşe Yıldız", "ayse yilmaz"));
  CHECK(!finds("Kees van Dijk", "kees de"));

  /* A full buffer ends at a whole character, NUL-terminated. */
  CHECK_EQ_INT((int)fold_text("Ayşe", out, 3), 2);
  CHECK_EQ_STR(out, "ay");
  CHECK_EQ_INT((int)fold_text("王小明", out, 8), 6);
  CHECK_EQ_STR(out, "王小");
  CHECK_EQ_INT((int)fold_text("x", out, 1), 0);
  CHECK_EQ_STR(out, "");
  /* Broken UTF-8 is a word break, never read past. */
  CHECK_EQ_INT((int)fold_text("ab\xC3", out, sizeof out), 2);
  CHECK_EQ_INT((int)fold_text("a\xFF" "b", out, sizeof out), 3);
  CHECK_EQ_STR(out, "a b");
  return 0;
}
