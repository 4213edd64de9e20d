// fold.js — names as a search compares them: without case, accents or
// punctuation, so that "ayse" finds Ayşe, "yildiz" finds Yıldız and
// "brouwer de vries" finds Brouwer-de Vries. Pure code; no DOM. The server
// folds the same way in C (protocol/fold.c); both pass the shared vectors of
// protocol/testdata/fold.tsv.

/* Letters that Unicode does not decompose into a base letter and a mark. */
const SPECIAL = {
  ı: 'i', ł: 'l', ø: 'o', đ: 'd', ð: 'd', þ: 'th', ß: 'ss', æ: 'ae', œ: 'oe', ĳ: 'ij', ħ: 'h', ŧ: 't',
  ς: 'σ', /* final sigma: a Greek name's last letter */
};

/* The folded form: lower case, marks removed, apostrophes dropped (O'Brien
 * is "obrien"), every run of anything else that is not a letter or digit
 * one space. */
export function fold(text) {
  return String(text)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[ıłøđðþßæœĳħŧς]/g, (c) => SPECIAL[c])
    .replace(/['’ʼ`]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/* A query's words, folded. */
export function queryWords(query) {
  const f = fold(query);
  return f ? f.split(' ') : [];
}

/* True when every query word starts a word of the folded name (in any
 * order): "fat bou" and "bouzid" find Fatima Bouzid; "atim" does not. */
export function matches(foldedName, words) {
  if (!words.length) return true;
  const nameWords = foldedName.split(' ');
  return words.every((w) => nameWords.some((n) => n.startsWith(w)));
}
