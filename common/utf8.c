/* Table-free UTF-8 validator; see utf8.h. */
#include <string.h>

#include "swar.h"
#include "utf8.h"

int
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t need;
		unsigned lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			while (i + 8 <= n && !swar_high(swar_load(p + i)))
				i += 8;	/* ASCII, a word at a time */
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (n - i - 1 < need)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= need; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

/* Bytes of the character a lead byte starts (1 for ASCII or a stray). */
static size_t
utf8_seq_len(unsigned char c)
{
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	if (c >= 0xc0)
		return 2;
	return 1;
}

size_t
utf8_prefix(const char *s, size_t n, size_t max)
{
	size_t i = max, k;

	if (n <= max)
		return n;
	/* s[max] is the first byte left out: if it continues a character,
	 * leave out that character's lead byte too (at most 3 back). */
	for (k = 0; k < 3 && i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80;
	     k++)
		i--;
	if (((unsigned char)s[i] & 0xc0) == 0x80)
		return max; /* not UTF-8: nothing to keep whole */
	return i;
}

int
utf8_prec(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	return (int)utf8_prefix(s, n, max);
}

size_t
utf8_trim(char *s)
{
	size_t len = strlen(s), j = len;

	while (j > 0 && len - j < 3 && ((unsigned char)s[j - 1] & 0xc0) ==
	    0x80)
		j--;
	if (j == 0 || ((unsigned char)s[j - 1] & 0xc0) != 0xc0)
		return len; /* ends in ASCII or a whole character */
	if (len - (j - 1) < utf8_seq_len((unsigned char)s[j - 1])) {
		s[j - 1] = '\0';
		return j - 1;
	}
	return len;
}
