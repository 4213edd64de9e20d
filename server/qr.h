/* qr.h — QR codes for enrolment codes: libqrencode makes the module
 * matrix; this module draws it in a terminal (Unicode half blocks, two
 * module rows per text line) or writes it as a PNG with libpng. Both add
 * the quiet zone of 4 light modules the QR standard asks for. */
#ifndef TURF_QR_H
#define TURF_QR_H

#include <stdbool.h>
#include <stdio.h>

/* Draws text's QR code to out. Light modules are drawn as blocks (the
 * glyph's colour) and dark ones as blank, as for a light-on-dark terminal;
 * with ansi, explicit white-on-black colour codes make it right on any
 * terminal theme. Returns 0, or -1 when text cannot be encoded (errno). */
int qr_print(FILE *out, const char *text, bool ansi);

/* Writes text's QR code as a black-on-white 1-bit PNG to path, scale
 * pixels per module. Returns 0 or -1 (message on stderr). */
int qr_write_png(const char *path, const char *text, int scale);

#endif
