/* fold.c — folding names for search (fold.h). */
#include "fold.h"

#include <stdint.h>
#include <string.h>

/* U+0080 to U+045F (Latin, Greek, Cyrillic and the marks between them):
 * what a character folds to, NULL for one that stays as it is. A space
 * is a word break, "" drops the character (a mark, ʼ). Derived once from
 * Unicode's compatibility decomposition, lower-cased, marks removed, with
 * ı ł ø đ ð þ ß æ œ ĳ ħ ŧ ς spelled out as fold.js does. */
#define FOLD__TABLE_FIRST 0x80
#define FOLD__TABLE_LAST 0x45F
static const char *const fold__table[FOLD__TABLE_LAST - FOLD__TABLE_FIRST + 1] = {
    " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",
    " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",
    " ", " ", " ", " ", "a", " ", " ", " ", " ", " ", " ", " ", "2", "3", " ", "μ", " ", " ", " ",
    "1", "o", " ", "1 4", "1 2", "3 4", " ", "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e",
    "e", "e", "i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", " ", "o", "u", "u", "u", "u",
    "y", "th", "ss", "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",
    "i", "d", "n", "o", "o", "o", "o", "o", " ", "o", "u", "u", "u", "u", "y", "th", "y", "a",
    "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d", "d", "d", "e", "e",
    "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g", "g", "g", "g", "g", "h", "h", "h",
    "h", "i", "i", "i", "i", "i", "i", "i", "i", "i", "i", "ij", "ij", "j", "j", "k", "k", NULL,
    "l", "l", "l", "l", "l", "l", "l ", "l ", "l", "l", "n", "n", "n", "n", "n", "n", "n", "ŋ",
    NULL, "o", "o", "o", "o", "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s",
    "s", "s", "s", "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
    "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s", NULL, "ɓ",
    "ƃ", NULL, "ƅ", NULL, "ɔ", "ƈ", NULL, "ɖ", "ɗ", "ƌ", NULL, NULL, "ǝ", "ə", "ɛ", "ƒ", NULL,
    "ɠ", "ɣ", NULL, "ɩ", "ɨ", "ƙ", NULL, NULL, NULL, "ɯ", "ɲ", NULL, "ɵ", "o", "o", "ƣ", NULL,
    "ƥ", NULL, "ʀ", "ƨ", NULL, "ʃ", NULL, NULL, "ƭ", NULL, "ʈ", "u", "u", "ʊ", "ʋ", "ƴ", NULL,
    "ƶ", NULL, "ʒ", "ƹ", NULL, NULL, NULL, "ƽ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "dz",
    "dz", "dz", "lj", "lj", "lj", "nj", "nj", "nj", "a", "a", "i", "i", "o", "o", "u", "u", "u",
    "u", "u", "u", "u", "u", "u", "u", NULL, "a", "a", "a", "a", "ae", "ae", "ǥ", NULL, "g", "g",
    "k", "k", "o", "o", "o", "o", "ʒ", "ʒ", "j", "dz", "dz", "dz", "g", "g", "ƕ", "ƿ", "n", "n",
    "a", "a", "ae", "ae", "o", "o", "a", "a", "a", "a", "e", "e", "e", "e", "i", "i", "i", "i",
    "o", "o", "o", "o", "r", "r", "r", "r", "u", "u", "u", "u", "s", "s", "t", "t", "ȝ", NULL,
    "h", "h", "ƞ", NULL, "ȣ", NULL, "ȥ", NULL, "a", "a", "e", "e", "o", "o", "o", "o", "o", "o",
    "o", "o", "y", "y", NULL, NULL, NULL, NULL, NULL, NULL, "ⱥ", "ȼ", NULL, "ƚ", "ⱦ", NULL, NULL,
    "ɂ", NULL, "ƀ", "ʉ", "ʌ", "ɇ", NULL, "ɉ", NULL, "ɋ", NULL, "ɍ", NULL, "ɏ", NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, "h", "ɦ", "j", "r", "ɹ", "ɻ", "ʁ", "w", "y", NULL, NULL, NULL, "",
    NULL, NULL, NULL, NULL, NULL, " ", " ", " ", " ", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",
    " ", "ɣ", "l", "s", "x", "ʕ", " ", " ", " ", " ", " ", " ", " ", NULL, " ", NULL, " ", " ",
    " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "ͱ", NULL, "ͳ", NULL, "ʹ", " ",
    "ͷ", NULL, " ", " ", " ", NULL, NULL, NULL, " ", "ϳ", " ", " ", " ", " ", " ", " ", "α", " ",
    "ε", "η", "ι", " ", "ο", " ", "υ", "ω", "ι", "α", "β", "γ", "δ", "ε", "ζ", "η", "θ", "ι", "κ",
    "λ", "μ", "ν", "ξ", "ο", "π", "ρ", " ", "σ", "τ", "υ", "φ", "χ", "ψ", "ω", "ι", "υ", "α", "ε",
    "η", "ι", "υ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, "σ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "ι", "υ", "ο", "υ",
    "ω", "ϗ", "β", "θ", "Υ", "Υ", "Υ", "φ", "π", NULL, "ϙ", NULL, "ϛ", NULL, "ϝ", NULL, "ϟ", NULL,
    "ϡ", NULL, "ϣ", NULL, "ϥ", NULL, "ϧ", NULL, "ϩ", NULL, "ϫ", NULL, "ϭ", NULL, "ϯ", NULL, "κ",
    "ρ", "σ", NULL, "θ", "ε", " ", "ϸ", NULL, "σ", "ϻ", NULL, NULL, "ͻ", "ͼ", "ͽ", "е", "е", "ђ",
    "г", "є", "ѕ", "і", "і", "ј", "љ", "њ", "ћ", "к", "и", "у", "џ", "а", "б", "в", "г", "д", "е",
    "ж", "з", "и", "и", "к", "л", "м", "н", "о", "п", "р", "с", "т", "у", "ф", "х", "ц", "ч", "ш",
    "щ", "ъ", "ы", "ь", "э", "ю", "я", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "и",
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, "е", "е", NULL, "г", NULL, NULL, NULL, "і", NULL,
    NULL, NULL, NULL, "к", "и", "у", NULL,
};

/* U+1E00 to U+1EFF (Latin Extended Additional: Vietnamese, Welsh), as
 * fold__table. */
#define FOLD__EXTRA_FIRST 0x1E00
#define FOLD__EXTRA_LAST 0x1EFF
static const char *const fold__extra[FOLD__EXTRA_LAST - FOLD__EXTRA_FIRST + 1] = {
    "a", "a", "b", "b", "b", "b", "b", "b", "c", "c", "d", "d", "d", "d", "d", "d", "d", "d", "d",
    "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "f", "f", "g", "g", "h", "h", "h", "h",
    "h", "h", "h", "h", "h", "h", "i", "i", "i", "i", "k", "k", "k", "k", "k", "k", "l", "l", "l",
    "l", "l", "l", "l", "l", "m", "m", "m", "m", "m", "m", "n", "n", "n", "n", "n", "n", "n", "n",
    "o", "o", "o", "o", "o", "o", "o", "o", "p", "p", "p", "p", "r", "r", "r", "r", "r", "r", "r",
    "r", "s", "s", "s", "s", "s", "s", "s", "s", "s", "s", "t", "t", "t", "t", "t", "t", "t", "t",
    "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "v", "v", "v", "v", "w", "w", "w", "w", "w",
    "w", "w", "w", "w", "w", "x", "x", "x", "x", "y", "y", "z", "z", "z", "z", "z", "z", "h", "t",
    "w", "y", "aʾ", "s", NULL, NULL, "ss", NULL, "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
    "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "e", "e", "e", "e", "e",
    "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "i", "i", "i", "i", "o", "o", "o", "o",
    "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o",
    "o", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "y", "y", "y", "y",
    "y", "y", "y", "y", "ỻ", NULL, "ỽ", NULL, "ỿ", NULL,
};

/* The code point at *p (advancing it), or -1 for a byte that starts no
 * valid UTF-8 sequence (skipped alone). */
static int32_t fold__next(const unsigned char **p) {
  const unsigned char *s = *p;
  int32_t cp;
  int n;

  if (s[0] < 0x80) {
    *p = s + 1;
    return s[0];
  }
  if (s[0] >= 0xC2 && s[0] <= 0xDF) {
    cp = s[0] & 0x1F;
    n = 1;
  } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
    cp = s[0] & 0x0F;
    n = 2;
  } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
    cp = s[0] & 0x07;
    n = 3;
  } else {
    *p = s + 1;
    return -1;
  }
  for (int i = 1; i <= n; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *p = s + 1;
      return -1;
    }
    cp = cp << 6 | (s[i] & 0x3F);
  }
  *p = s + n + 1;
  return cp;
}

/* What cp folds to, as fold__table's entries: in buf when it stays. */
static const char *fold__char(int32_t cp, char buf[5]) {
  if (cp < 0)
    return " ";
  if (cp < 0x80) {
    if (cp == '\'' || cp == '`')
      return ""; /* apostrophes */
    if (cp >= 'A' && cp <= 'Z')
      cp += 'a' - 'A';
    else if (!((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')))
      return " ";
    buf[0] = (char)cp;
    buf[1] = '\0';
    return buf;
  }
  if (cp <= FOLD__TABLE_LAST && fold__table[cp - FOLD__TABLE_FIRST] != NULL)
    return fold__table[cp - FOLD__TABLE_FIRST];
  if (cp >= FOLD__EXTRA_FIRST && cp <= FOLD__EXTRA_LAST && fold__extra[cp - FOLD__EXTRA_FIRST] != NULL)
    return fold__extra[cp - FOLD__EXTRA_FIRST];
  if (cp == 0x2019)
    return ""; /* the typographic apostrophe */
  if (cp >= 0x2000 && cp <= 0x206F)
    return " "; /* general punctuation */
  if (cp < 0x800) {
    buf[0] = (char)(0xC0 | cp >> 6);
    buf[1] = (char)(0x80 | (cp & 0x3F));
    buf[2] = '\0';
  } else if (cp < 0x10000) {
    buf[0] = (char)(0xE0 | cp >> 12);
    buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = (char)(0x80 | (cp & 0x3F));
    buf[3] = '\0';
  } else {
    buf[0] = (char)(0xF0 | cp >> 18);
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    buf[4] = '\0';
  }
  return buf;
}

size_t fold_text(const char *in, char *out, size_t cap) {
  const unsigned char *p = (const unsigned char *)in;
  size_t len = 0;
  bool space = false;

  if (cap == 0)
    return 0;
  while (*p) {
    char buf[5], piece[24];
    size_t n = 0;
    bool gap = space;
    /* A character's bytes (and the space before them) go in whole or not
     * at all; no entry of the table is near piece's size. */
    for (const char *s = fold__char(fold__next(&p), buf); *s && n + 2 < sizeof piece; s++) {
      if (*s == ' ') {
        gap = len + n > 0;
        continue;
      }
      if (gap)
        piece[n++] = ' ';
      gap = false;
      piece[n++] = *s;
    }
    if (len + n + 1 > cap)
      break;
    memcpy(out + len, piece, n);
    len += n;
    space = gap;
  }
  out[len] = '\0';
  return len;
}

/* Whether the word w (wlen bytes) starts some word of name. */
static bool fold__word_in(const char *name, const char *w, size_t wlen) {
  for (const char *n = name; *n;) {
    const char *end = strchr(n, ' ');
    size_t nlen = end ? (size_t)(end - n) : strlen(n);
    if (nlen >= wlen && memcmp(n, w, wlen) == 0)
      return true;
    if (!end)
      break;
    n = end + 1;
  }
  return false;
}

bool fold_matches(const char *folded_name, const char *folded_query) {
  for (const char *q = folded_query; *q;) {
    const char *end = strchr(q, ' ');
    size_t qlen = end ? (size_t)(end - q) : strlen(q);
    if (qlen > 0 && !fold__word_in(folded_name, q, qlen))
      return false;
    if (!end)
      break;
    q = end + 1;
  }
  return true;
}
