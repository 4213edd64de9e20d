/* qr.c — drawing QR codes (see qr.h). Owns nothing between calls: each
 * call encodes, draws and frees its QRcode. */
#include "qr.h"

#include <errno.h>
#include <png.h>
#include <qrencode.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QR__QUIET 4 /* light modules around the symbol (the standard's) */

static QRcode *qr__encode(const char *text) {
  /* Level M (15 % of the symbol may be damaged) suits a screen or a print
   * that a tablet camera reads. */
  return QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

/* Whether module (x, y) of the drawing (quiet zone included) is dark. */
static bool qr__dark(const QRcode *qr, int x, int y) {
  x -= QR__QUIET;
  y -= QR__QUIET;
  if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
    return false;
  return (qr->data[y * qr->width + x] & 1) != 0;
}

int qr_print(FILE *out, const char *text, bool ansi) {
  /* Index: top light << 1 | bottom light. */
  static const char *const glyph[4] = {" ", "\xe2\x96\x84", "\xe2\x96\x80", "\xe2\x96\x88"};
  QRcode *qr = qr__encode(text);
  int size;

  if (qr == NULL)
    return -1;
  size = qr->width + 2 * QR__QUIET;
  for (int y = 0; y < size; y += 2) {
    if (ansi)
      fputs("\x1b[97;40m", out);
    for (int x = 0; x < size; x++) {
      int top = !qr__dark(qr, x, y);
      int bottom = y + 1 < size ? !qr__dark(qr, x, y + 1) : 0;
      fputs(glyph[top << 1 | bottom], out);
    }
    if (ansi)
      fputs("\x1b[0m", out);
    fputc('\n', out);
  }
  QRcode_free(qr);
  return 0;
}

/* Writes the image through libpng, which reports errors by longjmp. Kept
 * apart from qr_write_png so that no variable of the caller is changed
 * between setjmp and a jump (which would leave its value undefined). */
static int qr__png_write(png_structp png, png_infop info, FILE *f, const QRcode *qr,
                         int scale, uint8_t *row) {
  int px = (qr->width + 2 * QR__QUIET) * scale;
  if (setjmp(png_jmpbuf(png)))
    return -1;
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)px, (png_uint_32)px, 1, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < px; y++) {
    memset(row, 0, (size_t)(px + 7) / 8);
    for (int x = 0; x < px; x++)
      if (!qr__dark(qr, x / scale, y / scale)) /* 1-bit gray: 1 is white */
        row[x / 8] |= (uint8_t)(0x80 >> (x % 8));
    png_write_row(png, row);
  }
  png_write_end(png, NULL);
  return 0;
}

int qr_write_png(const char *path, const char *text, int scale) {
  QRcode *qr = qr__encode(text);
  png_structp png = NULL;
  png_infop info = NULL;
  uint8_t *row = NULL;
  FILE *f = NULL;
  int px, rc = -1;

  if (qr == NULL) {
    fprintf(stderr, "turfctl: cannot encode a QR code: %s\n", strerror(errno));
    return -1;
  }
  if (scale < 1)
    scale = 1;
  px = (qr->width + 2 * QR__QUIET) * scale;
  f = fopen(path, "wb");
  if (f == NULL) {
    fprintf(stderr, "turfctl: %s: %s\n", path, strerror(errno));
    goto done;
  }
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct(png) : NULL;
  row = calloc(1, (size_t)(px + 7) / 8);
  if (png == NULL || info == NULL || row == NULL)
    goto done;
  rc = qr__png_write(png, info, f, qr, scale, row);
  if (rc != 0)
    fprintf(stderr, "turfctl: %s: cannot write the PNG\n", path);

done:
  if (png != NULL)
    png_destroy_write_struct(&png, info ? &info : NULL);
  free(row);
  if (f != NULL && fclose(f) != 0 && rc == 0) {
    fprintf(stderr, "turfctl: %s: %s\n", path, strerror(errno));
    rc = -1;
  }
  QRcode_free(qr);
  return rc;
}
