/*
 * INI configuration through libinih, with line numbers and a declarative key
 * table per section (Redis config.c style): name, type, range, default, help.
 * Errors come back as "FILE:LINE: message".
 */
#ifndef SNO_CONF_H
#define SNO_CONF_H

#include <stddef.h>
#include <stdio.h>

enum conf_type { CONF_STR, CONF_INT, CONF_BOOL };

struct conf_key {
	const char *name;
	enum conf_type type;
	long min, max;		/* CONF_INT range; CONF_STR max length */
	const char *def;	/* default as text, or NULL */
	size_t off;		/* offset of the field in the section struct */
	const char *help;
};

#define CONF_ERR_LEN 512
#define CONF_TEXT_MAX (1024 * 1024)	/* the largest configuration file */

/*
 * Called for every key; line is the key's line. With conf_parse_sections it
 * is also called with name and value NULL at each [section] line. Return 0,
 * or fill err (without file:line) and return -1.
 */
typedef int (*conf_handler)(void *user, const char *section,
    const char *name, const char *value, int line, char *err);

/* Parses path; 0, or -1 with err set to "FILE:LINE: message". */
int conf_parse(const char *path, conf_handler h, void *user,
    char err[CONF_ERR_LEN]);
/*
 * The same, and sections (even empty ones) are announced when asked. The
 * file is read whole (at most CONF_TEXT_MAX bytes) into conf_parse_text.
 */
int conf_parse_sections(const char *path, conf_handler h, void *user,
    int sections, char err[CONF_ERR_LEN]);
/*
 * Parses len bytes of INI text as if read from a file called name (used in
 * errors): the lines inih sees are those fgets(3) would give it. 0, or -1
 * with err set to "NAME:LINE: message".
 */
int conf_parse_text(const char *name, const char *text, size_t len,
    conf_handler h, void *user, int sections, char err[CONF_ERR_LEN]);
/* Finds name in a table terminated by a NULL name. */
const struct conf_key *conf_find(const struct conf_key *t, const char *name);
/*
 * Stores value into base at k->off: char * (strdup'd, freeing the old one),
 * long, or int (bool). 0, or -1 with err set.
 */
int conf_set(const struct conf_key *k, void *base, const char *value,
    char *err);
/* Applies every default of the table to base. */
void conf_defaults(const struct conf_key *t, void *base);
/* Frees the strings of a table's CONF_STR fields in base. */
void conf_free_strings(const struct conf_key *t, void *base);
/*
 * Prints one line per key of t for --help-config:
 * "[SECTION] NAME (TYPE[, default DEF]): HELP". sno.conf(5) is checked
 * against this output by tests/integration/man_pages.test.js.
 */
void conf_print_keys(FILE *fp, const char *section, const struct conf_key *t);

#endif
