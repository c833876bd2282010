/* apps.h — the built-in in-worker apps. */
#ifndef TUNDRA_APPS_APPS_H
#define TUNDRA_APPS_APPS_H

#include <stdint.h>

#include "tundra/app.h"

/* RFC 862: echo every byte back; close after the peer's FIN. Port 7. */
extern const struct tundra_app app_echo;
/* RFC 863: read and throw away until EOF, then close. Port 9. */
extern const struct tundra_app app_discard;
/* Send the pattern below until the peer closes. Port 19 (chargen's port,
 * RFC 864, but not its line format: a pattern that a checker can verify at
 * any offset). */
extern const struct tundra_app app_source;

/* Byte i (from 0) of what the source app sends: 251 is prime, so a lost,
 * duplicated or misplaced block of any power-of-two size shows. */
static inline uint8_t source_byte(uint64_t i)
{
	return (uint8_t)(i % 251);
}

#endif
