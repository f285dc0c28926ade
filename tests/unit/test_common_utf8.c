/*
 * UTF-8-safe truncation (issue 9, defect 4): a text cut to a byte limit
 * never ends inside a multi-byte character, so what the relay echoes or
 * logs stays valid UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static void
prefix_never_splits_a_character(void **state)
{
	/*
	 * "a" then 150 x "é" (2 bytes each): byte 200 is inside a
	 * character.
	 */
	char s[1 + 300 + 1], out[256];
	size_t n;

	(void)state;
	s[0] = 'a';
	for (int i = 0; i < 150; i++)
		memcpy(s + 1 + 2 * i, "\xc3\xa9", 2);
	s[301] = '\0';
	n = utf8_prefix(s, 301, 200);
	assert_int_equal(n, 199);
	assert_true(utf8_valid((const unsigned char *)s, n));
	assert_int_equal(utf8_prec(s, 200), 199);
	assert_int_equal(utf8_prec(s, 201), 201);
	snprintf(out, sizeof(out), "%.*s", utf8_prec(s, 200), s);
	assert_true(utf8_valid((const unsigned char *)out, strlen(out)));
	/* Short texts are kept whole; an empty limit keeps nothing. */
	assert_int_equal(utf8_prefix("ab", 2, 200), 2);
	assert_int_equal(utf8_prefix("\xc3\xa9", 2, 0), 0);
	/* 3- and 4-byte characters. */
	assert_int_equal(utf8_prefix("x\xe2\x82\xac", 4, 2), 1);
	assert_int_equal(utf8_prefix("x\xe2\x82\xac", 4, 3), 1);
	assert_int_equal(utf8_prefix("x\xf0\x9f\x98\x80y", 6, 4), 1);
	assert_int_equal(utf8_prefix("x\xf0\x9f\x98\x80y", 6, 5), 5);
	/* Not UTF-8 (a run of continuation bytes): cut as given. */
	assert_int_equal(utf8_prefix("\x80\x80\x80\x80\x80\x80", 6, 5), 5);
}

static void
trim_drops_a_cut_tail(void **state)
{
	char a[] = "ab\xc3", b[] = "ab\xc3\xa9", c[] = "x\xf0\x9f\x98",
	     d[] = "x\xf0\x9f\x98\x80", e[] = "", f[] = "\xe2\x82";
	char g[] = "0123456789abc\xc3\xa9\xc3\xa9";

	(void)state;
	assert_int_equal(utf8_trim(a), 2);
	assert_string_equal(a, "ab");
	assert_int_equal(utf8_trim(b), 4);
	assert_int_equal(utf8_trim(c), 1);
	assert_string_equal(c, "x");
	assert_int_equal(utf8_trim(d), 5);
	assert_int_equal(utf8_trim(e), 0);
	assert_int_equal(utf8_trim(f), 0);
	/* What a byte limit leaves when it falls inside a character. */
	g[14] = '\0';
	assert_false(utf8_valid((const unsigned char *)g, strlen(g)));
	utf8_trim(g);
	assert_string_equal(g, "0123456789abc");
}

/* The byte-at-a-time answer utf8_valid's word-at-a-time ASCII path must
 * give: is p[0..n) well-formed UTF-8 (RFC 3629)? */
static int
utf8_valid_ref(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = p[i], need, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 9;
		if (need == 9 || n - i - 1 < need)
			return 0;
		cp = c & (0x3f >> need);
		for (size_t k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < (need == 1 ? 0x80u : need == 2 ? 0x800u : 0x10000u) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static void
long_ascii_runs_are_checked_at_every_offset(void **state)
{
	/* One odd byte or sequence at each position of a long ASCII text
	 * (so on each side of and across 8-byte words). */
	static const char *odd[] = {"\xc3\xa9", "\xc3", "\xa9", "\xff",
	    "\xe2\x82\xac", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "\xc0\xaf"};
	unsigned char t[64];

	(void)state;
	for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
		size_t ol = strlen(odd[k]);

		for (size_t at = 0; at + ol <= sizeof(t); at++) {
			memset(t, 'a', sizeof(t));
			memcpy(t + at, odd[k], ol);
			for (size_t n = at; n <= sizeof(t); n += 7)
				if (utf8_valid(t, n) != utf8_valid_ref(t, n))
					fail_msg("odd %zu at %zu, length %zu",
					    k, at, n);
		}
	}
	memset(t, 'a', sizeof(t));
	assert_true(utf8_valid(t, sizeof(t)));
	t[63] = 0x80;
	assert_false(utf8_valid(t, sizeof(t)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prefix_never_splits_a_character),
		cmocka_unit_test(trim_drops_a_cut_tail),
		cmocka_unit_test(long_ascii_runs_are_checked_at_every_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
