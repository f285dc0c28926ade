/*
 * Word-at-a-time byte tests, for the scans a large body goes through
 * (UTF-8, control characters, JSON escaping): eight bytes are tested in a
 * few operations, and only a word that may hold a byte of interest is
 * looked at byte by byte. From "Bit Twiddling Hacks" (Sean Eron Anderson),
 * "Determine if a word has a byte less than n": exact as a yes/no answer.
 */
#ifndef SNO_SWAR_H
#define SNO_SWAR_H

#include <stdint.h>
#include <string.h>

#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGH 0x8080808080808080ULL

static inline uint64_t
swar_load(const void *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* Nonzero when a byte of w is below n (n at most 128). */
static inline uint64_t
swar_below(uint64_t w, unsigned n)
{
	return (w - SWAR_ONES * n) & ~w & SWAR_HIGH;
}

/* Nonzero when a byte of w equals c. */
static inline uint64_t
swar_has(uint64_t w, unsigned char c)
{
	return swar_below(w ^ (SWAR_ONES * c), 1);
}

/* Nonzero when a byte of w is not ASCII. */
static inline uint64_t
swar_high(uint64_t w)
{
	return w & SWAR_HIGH;
}

#endif
