/*
 * libinih parses the text; we feed it lines through our own reader so that
 * each handler call knows its line number. A file is read whole first, so
 * a file and a buffer (conf_parse_text) go through the same reader.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "conf.h"

struct conf_ctx {
	const char *text;	/* what is left to read */
	size_t left;
	int line;
	conf_handler h;
	void *user;
	int err_line;
	int sections;	/* also call h at each [section] line */
	char err[CONF_ERR_LEN];
};

/*
 * fgets(3) on the text: the next line with its '\n', or the first num - 1
 * bytes of it, NUL-terminated; NULL at the end.
 */
static char *
conf_gets(struct conf_ctx *c, char *str, int num)
{
	const char *nl;
	size_t n;

	if (c->left == 0 || num < 2)
		return NULL;
	n = (size_t)num - 1 < c->left ? (size_t)num - 1 : c->left;
	if ((nl = memchr(c->text, '\n', n)) != NULL)
		n = (size_t)(nl - c->text) + 1;
	memcpy(str, c->text, n);
	str[n] = '\0';
	c->text += n;
	c->left -= n;
	return str;
}

/*
 * Feeds inih one line at a time and, for a "[section]" line, tells the
 * handler (name == NULL) so that sections without keys are seen too.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_ctx *c = stream;
	char *r = conf_gets(c, str, num), *p, *end, err[CONF_ERR_LEN] = "";

	if (r == NULL)
		return NULL;
	c->line++;
	for (p = str; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '[' && c->sections && !c->err_line &&
	    (end = strchr(p, ']')) != NULL) {
		char sect[256];

		snprintf(sect, sizeof(sect), "%.*s", (int)(end - p - 1), p + 1);
		if (c->h(c->user, sect, NULL, NULL, c->line, err) < 0) {
			c->err_line = c->line;
			snprintf(c->err, sizeof(c->err), "%s", err);
		}
	}
	return r;
}

static int
conf_cb(void *user, const char *section, const char *name, const char *value)
{
	struct conf_ctx *c = user;
	char err[CONF_ERR_LEN] = "";

	if (c->err_line)
		return 1; /* report only the first error */
	if (c->h(c->user, section, name, value, c->line, err) < 0) {
		c->err_line = c->line;
		snprintf(c->err, sizeof(c->err), "%s", err);
		return 0;
	}
	return 1;
}

int
conf_parse(const char *path, conf_handler h, void *user,
    char err[CONF_ERR_LEN])
{
	return conf_parse_sections(path, h, user, 0, err);
}

int
conf_parse_sections(const char *path, conf_handler h, void *user,
    int sections, char err[CONF_ERR_LEN])
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int r = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, CONF_ERR_LEN, "%.200s:0: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((text = malloc(CONF_TEXT_MAX + 1)) == NULL) {
		snprintf(err, CONF_ERR_LEN, "%.200s:0: out of memory", path);
		goto out;
	}
	len = fread(text, 1, CONF_TEXT_MAX + 1, fp);
	if (ferror(fp)) {
		snprintf(err, CONF_ERR_LEN, "%.200s:0: cannot read: %s", path,
		    strerror(errno));
		goto out;
	}
	if (len > CONF_TEXT_MAX) {
		snprintf(err, CONF_ERR_LEN, "%.200s:0: larger than %d bytes",
		    path, CONF_TEXT_MAX);
		goto out;
	}
	r = conf_parse_text(path, text, len, h, user, sections, err);
out:
	free(text);
	fclose(fp);
	return r;
}

int
conf_parse_text(const char *name, const char *text, size_t len,
    conf_handler h, void *user, int sections, char err[CONF_ERR_LEN])
{
	struct conf_ctx c = {.text = text, .left = len, .h = h, .user = user,
	    .sections = sections};
	int r;

	r = ini_parse_stream(conf_reader, &c, conf_cb, &c);
	if (c.err_line) {
		snprintf(err, CONF_ERR_LEN, "%.200s:%d: %.300s", name,
		    c.err_line, c.err);
		return -1;
	}
	if (r != 0) {
		snprintf(err, CONF_ERR_LEN, "%.200s:%d: syntax error", name, r);
		return -1;
	}
	return 0;
}

const struct conf_key *
conf_find(const struct conf_key *t, const char *name)
{
	for (; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

int
conf_set(const struct conf_key *k, void *base, const char *value, char *err)
{
	char *field = (char *)base + k->off;
	char *end;
	long l;
	int b;

	switch (k->type) {
	case CONF_STR:
		if (k->max > 0 && strlen(value) > (size_t)k->max) {
			snprintf(err, CONF_ERR_LEN,
			    "%s: longer than %ld characters", k->name, k->max);
			return -1;
		}
		free(*(char **)field);
		if ((*(char **)field = strdup(value)) == NULL) {
			snprintf(err, CONF_ERR_LEN, "out of memory");
			return -1;
		}
		return 0;
	case CONF_INT:
		errno = 0;
		l = strtol(value, &end, 10);
		if (errno || end == value || *end != '\0') {
			snprintf(err, CONF_ERR_LEN, "%s: '%s' is not a number",
			    k->name, value);
			return -1;
		}
		if (l < k->min || l > k->max) {
			snprintf(err, CONF_ERR_LEN,
			    "%s: %ld is out of range %ld..%ld", k->name, l,
			    k->min, k->max);
			return -1;
		}
		*(long *)field = l;
		return 0;
	case CONF_BOOL:
		if (parse_bool(value, &b) < 0) {
			snprintf(err, CONF_ERR_LEN,
			    "%s: '%s' is not yes or no", k->name, value);
			return -1;
		}
		*(int *)field = b;
		return 0;
	}
	return -1;
}

void
conf_defaults(const struct conf_key *t, void *base)
{
	char err[CONF_ERR_LEN];

	for (; t->name; t++)
		if (t->def && conf_set(t, base, t->def, err) < 0)
			abort(); /* a bad default is a programming error */
}

void
conf_free_strings(const struct conf_key *t, void *base)
{
	for (; t->name; t++) {
		if (t->type == CONF_STR) {
			char **p = (char **)((char *)base + t->off);

			free(*p);
			*p = NULL;
		}
	}
}

void
conf_print_keys(FILE *fp, const char *section, const struct conf_key *t)
{
	for (; t->name; t++) {
		fprintf(fp, "[%s] %s (", section, t->name);
		switch (t->type) {
		case CONF_STR: fputs("string", fp); break;
		case CONF_INT:
			fprintf(fp, "integer %ld..%ld", t->min, t->max);
			break;
		case CONF_BOOL: fputs("yes or no", fp); break;
		}
		if (t->def)
			fprintf(fp, ", default %s", t->def);
		fprintf(fp, "): %s\n", t->help);
	}
}
