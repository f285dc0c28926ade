/*
 * The Pusher client message handler (relay/pusher.c, PUSHER-PROTOCOL.md 1):
 * pusher_message on four connections of app "fuzzkey", as lws_server.c hands
 * it whole text messages, and what it queues back.
 *
 * Input: records separated by NUL bytes, each one byte then a message.
 * The byte's low two bits pick the connection (the seeds use '0'..'3',
 * as a NUL would end the record); with bit 7 set, the
 * harness signs the message before handing it over (data.auth of a
 * private or presence pusher:subscribe, of a pusher:signin), as a real
 * auth endpoint would, so that the fuzzer gets past the signature checks.
 *
 * Checked after every message: each frame queued is one JSON object in
 * valid UTF-8; the relay's subscription count is the sum of its
 * connections'. At the end every connection closes and the relay is
 * freed: LeakSanitizer sees the rest.
 */
#include "channel.h"
#include "relay_fuzz.h"

#define NCONN 4

/* The signature an auth endpoint gives for parts joined by ':'. */
static void
sign(const char *const *parts, int n, char *out, size_t cap)
{
	const char *p[5];
	size_t len[5];
	char hex[SIGN_HEX_LEN + 1];
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (i) {
			p[k] = ":";
			len[k++] = 1;
		}
		p[k] = parts[i];
		len[k++] = strlen(parts[i]);
	}
	sign_hmac_sha256_hex_parts(FZ_APP_SECRET, strlen(FZ_APP_SECRET), p, len,
	    k, hex);
	snprintf(out, cap, "%s:%s", FZ_APP_KEY, hex);
}

/* Rewrites msg with a valid auth when it is a subscribe or signin that
 * needs one; NULL when it is not (send it as it is). */
static char *
signed_copy(const struct conn *c, const char *msg, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(msg, len), *data;
	const char *ev, *ch, *cd, *ud;
	char auth[256];
	char *out = NULL;

	ev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "event"));
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	if (ev == NULL || !cJSON_IsObject(data))
		goto out;
	ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data,
	    "channel"));
	cd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data,
	    "channel_data"));
	ud = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data,
	    "user_data"));
	if (strcmp(ev, "pusher:subscribe") == 0 && ch &&
	    strncmp(ch, "presence-", 9) == 0) {
		const char *parts[3] = {c->socket_id, ch, cd};

		sign(parts, cd ? 3 : 2, auth, sizeof(auth));
	} else if (strcmp(ev, "pusher:subscribe") == 0 && ch &&
	    strncmp(ch, "private-", 8) == 0) {
		const char *parts[2] = {c->socket_id, ch};

		sign(parts, 2, auth, sizeof(auth));
	} else if (strcmp(ev, "pusher:signin") == 0 && ud) {
		const char *parts[3] = {c->socket_id, ":user:", ud};

		/* socket_id::user::user_data */
		sign(parts, 3, auth, sizeof(auth));
	} else
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(data, "auth");
	if (cJSON_AddStringToObject(data, "auth", auth) != NULL)
		out = cJSON_PrintUnformatted(j);
out:
	cJSON_Delete(j);
	return out;
}

static void
check_counts(struct relay *r)
{
	struct conn *c;
	int subs = 0, conns = 0;

	TAILQ_FOREACH(c, &r->conns, entry) {
		subs += c->nsubs;
		conns++;
	}
	fz_check(conns == r->nconns, "connection count");
	fz_check(subs == r->nsubs, "subscription count");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_conf *conf = fz_relay_conf();
	static struct conn conns[NCONN];
	struct relay r;
	size_t i = 0, end;

	if (conf == NULL || relay_init(&r, conf) < 0)
		abort();
	for (int k = 0; k < NCONN; k++) {
		memset(&conns[k], 0, sizeof(conns[k]));
		if (pusher_open(&r, &conns[k], FZ_APP_KEY, strlen(FZ_APP_KEY)))
			abort();
		fz_drain(&conns[k], fz_check_frame);
	}
	while (i < size) {
		const uint8_t *rec = data + i;
		const uint8_t *nul = memchr(rec, 0, size - i);
		struct conn *c;
		char *copy, *s = NULL;
		size_t len;

		end = nul ? (size_t)(nul - data) : size;
		len = end - i;
		i = end + 1;
		if (len == 0)
			continue;
		c = &conns[rec[0] & (NCONN - 1)];
		if (c->close_code)
			continue; /* lws_server.c stops reading a closing one */
		if ((copy = malloc(len)) == NULL)
			abort();
		memcpy(copy, rec + 1, len - 1);
		if ((rec[0] & 0x80) && (s = signed_copy(c, copy, len - 1)))
			pusher_message(c, s, strlen(s));
		else
			pusher_message(c, copy, len - 1);
		cJSON_free(s);
		free(copy);
		for (int k = 0; k < NCONN; k++)
			fz_drain(&conns[k], fz_check_frame);
		check_counts(&r);
	}
	for (int k = 0; k < NCONN; k++)
		relay_conn_close(&r, &conns[k]);
	fz_check(r.nconns == 0 && r.nsubs == 0, "all gone after closing");
	relay_free(&r);
	return 0;
}
