/* enrol_link.h — the link an enrolment QR code holds: the tablet app at
 * BASE/tablet/#enrol=CODE, which a stock Android camera opens in the
 * browser. The code travels in the fragment, which browsers never send to
 * a server or write into access logs. Pure code. */
#ifndef TURF_ENROL_LINK_H
#define TURF_ENROL_LINK_H

#include <stddef.h>

/* Writes the link for code into out (size bytes). base is where tablets
 * reach turfd: an http:// or https:// URL (a path in it is kept, for a
 * reverse proxy serving turfd below one), or its ws:// / wss:// address,
 * which becomes http:// / https://. Returns 0, or -1 when base is no such
 * URL or the link does not fit (out is then ""). */
int enrol_link(char *out, size_t size, const char *base, const char *code);

#endif
