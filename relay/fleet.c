/*
 * Fleets: one per account. A host's summary row (the figures of
 * docs/sample-format.md "The fleet summary") is rendered once, when its
 * sample arrives; a summary is the rows joined with each host's online
 * state, so the per-second work is a copy of at most 200 short rows. A
 * summary is built while the fleet channel is occupied or a host of the
 * account streams, kept in a ring of FLEET_HISTORY and published when
 * someone is subscribed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "channel.h"
#include "clock.h"
#include "fleet.h"
#include "host.h"
#include "log.h"
#include "utf8.h"

#define FLEET_NAME_MAX 64	/* bytes of a top process name */
/* A summary's bound: every row and its id, online state and times. */
#define FLEET_SUMMARY_MAX(n) ((size_t)(n) * (FLEET_ROW_MAX + 160) + 64)

struct fleet_row {
	char text[FLEET_ROW_MAX];	/* "seq":..,"cpu":..,...,"top":.. */
	size_t len;
};

struct fleet_hist {
	int64_t ts_ms;
	char *json;
	size_t len;
};

struct fleet {
	const struct account_conf *acct;
	char channel[160];
	int occupied;
	int64_t vacated_ms;		/* monotonic; valid when !occupied */
	int64_t next_ms;		/* monotonic: the next summary is due */
	struct host **hosts;
	struct fleet_row *rows;		/* rows[i] is hosts[i]'s */
	int nhosts;
	struct fleet_hist ring[FLEET_HISTORY];
	uint32_t head, len;
};

/* A figure without a value is left out of the row (docs/sample-format.md). */
static const char no_sample[] = "\"seq\":0";

int
fleets_init(struct relay *r)
{
	const struct relay_conf *c = r->conf;
	int n = c->naccounts;

	if (n == 0 || r->nhosts == 0)
		return 0;
	if ((r->fleets = calloc((size_t)n, sizeof(*r->fleets))) == NULL)
		return -ENOMEM;
	r->nfleets = n;
	for (int i = 0; i < n; i++) {
		struct fleet *f = &r->fleets[i];

		f->acct = &c->accounts[i];
		snprintf(f->channel, sizeof(f->channel), "%s%s",
		    FLEET_CHANNEL_PREFIX, f->acct->name);
		f->hosts = calloc((size_t)r->nhosts, sizeof(*f->hosts));
		f->rows = calloc((size_t)r->nhosts, sizeof(*f->rows));
		if (f->hosts == NULL || f->rows == NULL)
			return -ENOMEM;
	}
	for (int k = 0; k < r->nhosts; k++) {
		struct host *h = r->hosts[k];

		for (int i = 0; i < n && h->fleet == NULL; i++) {
			struct fleet *f = &r->fleets[i];

			if (strcmp(f->acct->name, h->conf->account) != 0)
				continue;
			h->fleet = f;
			h->fleet_ix = f->nhosts;
			f->hosts[f->nhosts] = h;
			memcpy(f->rows[f->nhosts].text, no_sample,
			    sizeof(no_sample));
			f->rows[f->nhosts].len = sizeof(no_sample) - 1;
			f->nhosts++;
		}
	}
	return 0;
}

void
fleets_free(struct relay *r)
{
	for (int i = 0; i < r->nfleets; i++) {
		struct fleet *f = &r->fleets[i];

		for (uint32_t k = 0; k < FLEET_HISTORY; k++)
			free(f->ring[k].json);
		free(f->hosts);
		free(f->rows);
	}
	free(r->fleets);
	r->fleets = NULL;
	r->nfleets = 0;
}

/* The row old fleets kept for h, or NULL. Only hosts alive now are asked
 * about: a reload frees removed hosts after creating new ones, so an old
 * fleet's pointer equal to h is h. */
static const struct fleet_row *
old_row(const struct fleet *old, int nold, const struct host *h)
{
	for (int i = 0; i < nold; i++)
		for (int k = 0; k < old[i].nhosts; k++)
			if (old[i].hosts[k] == h)
				return &old[i].rows[k];
	return NULL;
}

/* Whether fleet f (may be NULL) listed h. */
static int
in_fleet(const struct fleet *f, const struct host *h)
{
	for (int k = 0; f != NULL && k < f->nhosts; k++)
		if (f->hosts[k] == h)
			return 1;
	return 0;
}

int
fleets_reconf(struct relay *r)
{
	struct fleet *old = r->fleets;
	const struct fleet_row *row;
	int nold = r->nfleets, rc;

	r->fleets = NULL;
	r->nfleets = 0;
	for (int k = 0; k < r->nhosts; k++)
		r->hosts[k]->fleet = NULL;
	rc = fleets_init(r);
	for (int i = 0; i < r->nfleets; i++) {
		struct fleet *f = &r->fleets[i], *kept = NULL;

		for (int j = 0; j < nold; j++) {
			struct fleet *o = &old[j];

			if (strcmp(o->channel, f->channel) != 0)
				continue;
			kept = o;
			/* The account stays: its viewers, its clock and its
			 * last minute go on. */
			f->occupied = o->occupied;
			f->vacated_ms = o->vacated_ms;
			f->next_ms = o->next_ms;
			memcpy(f->ring, o->ring, sizeof(f->ring));
			f->head = o->head;
			f->len = o->len;
			memset(o->ring, 0, sizeof(o->ring));
			break;
		}
		for (int k = 0; k < f->nhosts; k++) {
			if ((row = old_row(old, nold, f->hosts[k])) != NULL)
				f->rows[k] = *row;
			/* A host new to a watched fleet streams as the others
			 * do (its viewers subscribed before it existed). */
			if (f->occupied && !in_fleet(kept, f->hosts[k]))
				host_session_want(f->hosts[k]);
		}
	}
	for (int j = 0; j < nold; j++) {
		for (uint32_t k = 0; k < FLEET_HISTORY; k++)
			free(old[j].ring[k].json);
		free(old[j].hosts);
		free(old[j].rows);
	}
	free(old);
	return rc;
}

const char *
fleet_channel_of(const struct relay *r, int i)
{
	return r->fleets[i].channel;
}

static struct fleet *
fleet_of_channel(struct app *a, const char *channel)
{
	size_t pl = strlen(FLEET_CHANNEL_PREFIX);
	struct relay *r = a->relay;

	if (a->conf != r->conf->metrics ||
	    strncmp(channel, FLEET_CHANNEL_PREFIX, pl) != 0)
		return NULL;
	for (int i = 0; i < r->nfleets; i++)
		if (strcmp(r->fleets[i].acct->name, channel + pl) == 0)
			return &r->fleets[i];
	return NULL;
}

int
fleet_channel_subscribed(struct app *a, const char *channel)
{
	struct fleet *f = fleet_of_channel(a, channel);

	if (f == NULL)
		return strncmp(channel, FLEET_CHANNEL_PREFIX,
		    strlen(FLEET_CHANNEL_PREFIX)) == 0;
	if (!f->occupied)
		log_info("fleet open account=%s hosts=%d", f->acct->name,
		    f->nhosts);
	f->occupied = 1;
	/* As for one host: a new viewer starts what is not streaming, so
	 * subscribing again is how the page continues past the cap. */
	for (int i = 0; i < f->nhosts; i++)
		host_session_want(f->hosts[i]);
	return 1;
}

int
fleet_channel_vacated(struct app *a, const char *channel)
{
	struct fleet *f = fleet_of_channel(a, channel);

	if (f == NULL)
		return strncmp(channel, FLEET_CHANNEL_PREFIX,
		    strlen(FLEET_CHANNEL_PREFIX)) == 0;
	f->occupied = 0;
	f->vacated_ms = clock_mono_ms();
	log_info("fleet closed account=%s", f->acct->name);
	return 1;
}

void
fleet_occupancy(const struct host *h, int *occupied, int64_t *vacated_ms)
{
	const struct fleet *f = h->fleet;

	if (f == NULL)
		return;
	if (f->occupied)
		*occupied = 1;
	else if (f->vacated_ms > *vacated_ms)
		*vacated_ms = f->vacated_ms;
}

static const cJSON *
at(const cJSON *j, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(j, k);
}

/*
 * Appends ,"key":v with at most prec decimals and no needless digits
 * (37.0 as 37, 0.20 as 0.2, -0.0 as 0).
 */
static int
add_compact(struct buf *b, const char *key, double v, int prec)
{
	char t[64];
	int n = snprintf(t, sizeof(t), "%.*f", prec, v);

	if (n <= 0 || (size_t)n >= sizeof(t))
		return -ENOMEM;
	if (strchr(t, '.') != NULL) {
		while (n > 0 && t[n - 1] == '0')
			t[--n] = '\0';
		if (n > 0 && t[n - 1] == '.')
			t[--n] = '\0';
	}
	if (strcmp(t, "-0") == 0)
		strcpy(t, "0");
	return buf_printf(b, ",\"%s\":%s", key, t);
}

/* Appends ,"key":v with prec decimals; nothing when v is not a number. */
static int
add_num(struct buf *b, const char *key, const cJSON *v, int prec)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return 0;
	return add_compact(b, key, v->valuedouble, prec);
}

/* Sum (or max) of key over the objects of arr; max of none: left out. */
static int
add_fold(struct buf *b, const char *key, const cJSON *arr, const char *field,
    int max, int prec)
{
	const cJSON *e;
	double acc = 0;
	int any = 0;

	if (!cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(e, arr) {
		const cJSON *v = at(e, field);

		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			continue;
		acc = max ? (any && acc > v->valuedouble ? acc : v->valuedouble)
		    : acc + v->valuedouble;
		any = 1;
	}
	/* No interface: nothing moves (0); no disk: nothing to be busy. */
	if (!any && max)
		return 0;
	return add_compact(b, key, acc, prec);
}

/* The index of name in procs_fields, or def. */
static int
field_ix(const cJSON *fields, const char *name, int def)
{
	const cJSON *e;
	int i = 0;

	cJSON_ArrayForEach(e, fields) {
		if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0)
			return i;
		i++;
	}
	return def;
}

/* ,"top":{"name":..,"cpu":..} of the process with the most CPU, if any. */
static int
add_top(struct buf *b, const cJSON *s)
{
	const cJSON *procs = at(s, "procs"), *row, *best = NULL;
	const cJSON *fields = at(s, "procs_fields"), *name;
	int ci = field_ix(fields, "cpu", 4), ni = field_ix(fields, "name", 7);
	double bc = -1;

	cJSON_ArrayForEach(row, procs) {
		const cJSON *c = cJSON_GetArrayItem(row, ci);

		if (cJSON_IsNumber(c) && c->valuedouble > bc) {
			bc = c->valuedouble;
			best = row;
		}
	}
	name = best ? cJSON_GetArrayItem(best, ni) : NULL;
	if (!cJSON_IsString(name))
		return 0;
	buf_adds(b, ",\"top\":{\"name\":\"");
	buf_add_json_escaped(b, name->valuestring,
	    (size_t)utf8_prec(name->valuestring, FLEET_NAME_MAX));
	buf_adds(b, "\"");
	add_compact(b, "cpu", bc, 1);
	return buf_adds(b, "}");
}

/* cpu busy %: 100 - idle - iowait, as cpu.cores' busy; none without rates. */
static int
add_busy(struct buf *b, const cJSON *s)
{
	const cJSON *pct = at(at(s, "cpu"), "pct");
	const cJSON *idle = at(pct, "idle"), *iow = at(pct, "iow");
	double v;

	if (!cJSON_IsNumber(idle) || !cJSON_IsNumber(iow))
		return 0;
	v = 100.0 - idle->valuedouble - iow->valuedouble;
	v = v < 0 ? 0 : v > 100 ? 100 : v;
	return add_compact(b, "cpu", v, 1);
}

void
fleet_sample(struct host *h, const char *json, size_t len)
{
	struct fleet *f = h->fleet;
	struct fleet_row *row;
	const cJSON *mem, *load;
	cJSON *s;
	struct buf b;
	int e = 0;

	if (f == NULL)
		return;
	row = &f->rows[h->fleet_ix];
	if ((s = cJSON_ParseWithLength(json, len)) == NULL)
		return; /* checked already: only out of memory */
	mem = at(s, "mem");
	load = at(s, "load");
	buf_init(&b, FLEET_ROW_MAX - 1);
	e |= buf_printf(&b, "\"seq\":%lld", h->last_seq);
	e |= add_busy(&b, s);
	e |= add_num(&b, "mem_used", at(mem, "used"), 0);
	e |= add_num(&b, "mem_total", at(mem, "total"), 0);
	e |= add_num(&b, "load1", cJSON_GetArrayItem(load, 0), 2);
	e |= add_fold(&b, "net_rx", at(s, "net"), "rx_Bps", 0, 0);
	e |= add_fold(&b, "net_tx", at(s, "net"), "tx_Bps", 0, 0);
	e |= add_fold(&b, "disk_util", at(s, "disk"), "util", 1, 1);
	e |= add_top(&b, s);
	if (e == 0 && b.len < sizeof(row->text)) {
		memcpy(row->text, b.data, b.len);
		row->len = b.len;
	} else
		log_warnx("fleet host=%s msg=\"summary row too long\"",
		    h->conf->name);
	buf_free(&b);
	cJSON_Delete(s);
}

int
fleet_row_get(const struct host *h, const char **text, size_t *len)
{
	const struct fleet_row *row;

	if (h->fleet == NULL)
		return -1;
	row = &h->fleet->rows[h->fleet_ix];
	*text = row->text;
	*len = row->len;
	return 0;
}

void
fleet_row_put(struct host *h, const char *text, size_t len)
{
	struct fleet_row *row;
	const char *seq = "\"seq\":";

	if (h->fleet == NULL || len >= sizeof(row->text) ||
	    strncmp(text, seq, strlen(seq)) != 0)
		return;
	row = &h->fleet->rows[h->fleet_ix];
	if (strtoll(text + strlen(seq), NULL, 10) <=
	    strtoll(row->text + strlen(seq), NULL, 10))
		return;
	memcpy(row->text, text, len);
	row->len = len;
}

/* The fleet's summary now, in b; 0 or -ENOMEM/-EMSGSIZE. */
static int
summary(struct fleet *f, int64_t wall, struct buf *b)
{
	int e = 0;

	e |= buf_printf(b, "{\"ts_ms\":%lld,\"hosts\":[", (long long)wall);
	for (int i = 0; i < f->nhosts; i++) {
		const struct host *h = f->hosts[i];
		int online = h->last_seen_wall_ms &&
		    wall - h->last_seen_wall_ms < HOST_ONLINE_MS;

		e |= buf_adds(b, i ? ",{\"id\":" : "{\"id\":");
		e |= buf_add_json_string(b, h->conf->name);
		/*
		 * "streaming" only when false: online and stopped (cap);
		 * "last_seen_ms" only for offline hosts (the page's
		 * "last seen").
		 */
		e |= buf_printf(b, ",\"online\":%s,%s",
		    online ? "true" : "false",
		    h->streaming ? "" : "\"streaming\":false,");
		if (!online)
			e |= buf_printf(b, "\"last_seen_ms\":%lld,",
			    (long long)h->last_seen_wall_ms);
		e |= buf_add(b, f->rows[i].text, f->rows[i].len);
		e |= buf_adds(b, "}");
	}
	e |= buf_adds(b, "]}");
	return e ? -ENOMEM : 0;
}

static void
keep(struct fleet *f, int64_t wall, const struct buf *b)
{
	struct fleet_hist *e;
	char *copy = malloc(b->len + 1);

	if (copy == NULL)
		return;
	memcpy(copy, b->data, b->len);
	copy[b->len] = '\0';
	if (f->len == FLEET_HISTORY) {
		free(f->ring[f->head].json);
		f->ring[f->head].json = NULL;
		f->head = (f->head + 1) % FLEET_HISTORY;
		f->len--;
	}
	e = &f->ring[(f->head + f->len) % FLEET_HISTORY];
	e->ts_ms = wall;
	e->json = copy;
	e->len = b->len;
	f->len++;
}

static void
fleet_tick(struct relay *r, struct fleet *f, int64_t now)
{
	struct app *a = relay_host_app(r);
	struct channel *ch;
	struct msg *m;
	struct buf b;
	int live = f->occupied;
	int64_t wall = clock_wall_ms();

	for (int i = 0; !live && i < f->nhosts; i++)
		live = f->hosts[i]->streaming;
	if (!live || now < f->next_ms)
		return;
	/* On the second, without drift; a late tick does not bunch up. */
	f->next_ms = f->next_ms + FLEET_PERIOD_MS > now ? f->next_ms +
	    FLEET_PERIOD_MS : now + FLEET_PERIOD_MS;
	buf_init(&b, FLEET_SUMMARY_MAX(f->nhosts));
	if (summary(f, wall, &b) < 0) {
		log_warnx("fleet account=%s msg=\"cannot build the summary\"",
		    f->acct->name);
		goto out;
	}
	keep(f, wall, &b);
	ch = a ? channel_find(a, f->channel) : NULL;
	if (ch == NULL || ch->nsubs == 0)
		goto out;
	if ((m = relay_frame("summary", f->channel, b.data, b.len, 0, NULL))
	    == NULL)
		goto out;
	channel_publish(ch, m, NULL);
	msg_unref(m);
out:
	buf_free(&b);
}

void
fleets_tick(struct relay *r, int64_t now)
{
	for (int i = 0; i < r->nfleets; i++)
		fleet_tick(r, &r->fleets[i], now);
}

int
fleet_history(struct relay *r, const char *account, int seconds,
    struct buf *out)
{
	struct fleet *f = NULL;
	int64_t from = clock_wall_ms() - (int64_t)seconds * 1000;
	int e = 0, first = 1;

	for (int i = 0; i < r->nfleets && f == NULL; i++)
		if (strcmp(r->fleets[i].acct->name, account) == 0)
			f = &r->fleets[i];
	e |= buf_adds(out, "{\"account\":");
	e |= buf_add_json_string(out, account);
	e |= buf_adds(out, ",\"summaries\":[");
	for (uint32_t i = 0; f && i < f->len; i++) {
		const struct fleet_hist *s =
		    &f->ring[(f->head + i) % FLEET_HISTORY];

		if (s->ts_ms < from)
			continue;
		e |= buf_adds(out, first ? "" : ",");
		e |= buf_add(out, s->json, s->len);
		first = 0;
	}
	e |= buf_adds(out, "]}");
	return e ? -ENOMEM : 0;
}
