/*
 * sno-relay: a Pusher Channels protocol 7 server (websockets and HTTP API).
 * Modules in reading order:
 *   config.c    the INI file: [relay] and [app NAME] sections
 *   config_query.c  lookups and origin checks on the loaded file
 *   lws_server.c glue: libwebsockets context, listeners, callback, timers
 *   lws_http.c  glue: HTTP requests in, answers out
 *   lws_write.c glue: the websocket write path (relay.pending drained)
 *   httpd.c     the HTTP route table, answers, parked requests
 *   pusher.c    the websocket protocol per connection
 *   http_api.c  the Pusher HTTP API under /apps/{id}/
 *   agent_api.c the agent's check-in and samples, signed per host
 *   dash_api.c  the dashboard's API: hosts, history, channel auth, files
 *   dash_login.c  the dashboard's logins, throttling, password thread
 *   dash_parse.c  the dashboard API's request bodies
 *   host.c      realtime sessions and history rings per host
 *   fleet.c     the fleet page's per-account summaries
 *   channel.c   channels, subscriptions, presence, cache, users
 *   sendq.c     shared frames and per-connection send rings
 *   conn.c      apps, connections, frames, relay.pending for the glue
 *   auth.c      Pusher signatures
 *   webhook.c   webhooks on a worker thread
 *   metrics.c   Prometheus counters
 *   reload.c    SIGHUP reloads, sd_notify, GET /readyz
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "http.h"
#include "sample.h"
#include "log.h"
#include "conn.h"
#include "reload.h"
#include "lws_server.h"
#include "sign.h"
#include "webhook.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sno-relay -c FILE [--check-config]\n"
	    "       sno-relay hash-password < password\n"
	    "       sno-relay new-host NAME --account ACCOUNT [--write DIR]\n"
	    "       sno-relay --version | --help\n"
	    "\n"
	    "  -c, --config FILE   configuration (INI; see README.md)\n"
	    "      --check-config  validate FILE, print 'configuration OK' or\n"
	    "                      FILE:LINE: message, and exit 0 or 1\n"
	    "      --help-config   list every configuration key and exit\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this text\n");
}

static void
on_signal(int sig)
{
	(void)sig;
	server_stop();
}

static void
on_hup(int sig)
{
	(void)sig;
	reload_request();
}

static void
signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Reads one line from stdin and prints its argon2id hash. */
static int
hash_password(void)
{
	char pw[1024], out[crypto_pwhash_STRBYTES];
	size_t n;

	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "sno-relay: give the password on stdin\n");
		return 1;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "sno-relay: the password is empty\n");
		return 1;
	}
	if (crypto_pwhash_str(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		fprintf(stderr, "sno-relay: out of memory\n");
		return 1;
	}
	sodium_memzero(pw, sizeof(pw));
	printf("%s\n", out);
	return 0;
}

/* Writes dir/host-NAME.conf (0640, never over an existing file); 0 or 1. */
static int
write_host_file(const char *dir, const char *name, const char *text)
{
	char file[4096];
	size_t len = strlen(text);
	int fd, rc = 1;

	if (snprintf(file, sizeof(file), "%s/host-%s.conf", dir, name) >=
	    (int)sizeof(file)) {
		fprintf(stderr, "sno-relay: %s: path too long\n", dir);
		return 1;
	}
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		0640)) < 0) {
		fprintf(stderr, "sno-relay: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (fchmod(fd, 0640) == 0 && write(fd, text, len) == (ssize_t)len &&
	    fsync(fd) == 0)
		rc = 0;
	else
		fprintf(stderr, "sno-relay: %s: %s\n", file, strerror(errno));
	if (close(fd) < 0 && rc == 0) {
		fprintf(stderr, "sno-relay: %s: %s\n", file, strerror(errno));
		rc = 1;
	}
	if (rc)
		unlink(file);
	else
		fprintf(stderr, "sno-relay: wrote %s; reload the relay "
		    "(SIGHUP) to add the host\n", file);
	return rc;
}

/*
 * Prints a ready [host NAME] section with a fresh random key, or with
 * --write DIR puts it in DIR/host-NAME.conf (for include) and prints only
 * the key, for the agent's key_file.
 */
static int
new_host(int argc, char **argv)
{
	unsigned char key[32];
	char hex[65], text[512];
	const char *dir = NULL;
	int rc = 0;

	if ((argc != 5 && argc != 7) || strcmp(argv[3], "--account") != 0 ||
	    (argc == 7 && strcmp(argv[5], "--write") != 0)) {
		usage(stderr);
		return 2;
	}
	if (argc == 7)
		dir = argv[6];
	if (!sample_host_valid(argv[2])) {
		fprintf(stderr, "sno-relay: '%s' is not a valid host id "
		    "(letters, digits, '.', '_', '-')\n", argv[2]);
		return 1;
	}
	if (!argv[4][0] || strlen(argv[4]) > 128 || strspn(argv[4],
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789-_.") != strlen(argv[4])) {
		fprintf(stderr, "sno-relay: '%s' is not a valid account name "
		    "(letters, digits, '.', '_', '-')\n", argv[4]);
		return 1;
	}
	sign_random(key, sizeof(key));
	sign_hex(key, sizeof(key), hex);
	snprintf(text, sizeof(text), "[host %s]\naccount = %s\nkey = %s\n",
	    argv[2], argv[4], hex);
	if (dir == NULL)
		fputs(text, stdout);
	else if ((rc = write_host_file(dir, argv[2], text)) == 0)
		printf("%s\n", hex);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(text, sizeof(text));
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"help-config", no_argument, NULL, 'H'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct relay_conf conf;
	struct relay relay;
	char err[CONF_ERR_LEN];
	const char *path = NULL;
	int ch, check = 0, rc = 1;

	if (argc > 1 && (strcmp(argv[1], "hash-password") == 0 ||
	    strcmp(argv[1], "new-host") == 0)) {
		if (sign_init() < 0)
			return 1;
		return argv[1][0] == 'h' ? hash_password()
		    : new_host(argc, argv);
	}

	while ((ch = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'k': check = 1; break;
		case 'H': relay_conf_print_keys(stdout); return 0;
		case 'V': printf("sno-relay %s\n", SNO_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (relay_conf_load(&conf, path, err) < 0) {
		fprintf(stderr, "%s\n", err);
		relay_conf_free(&conf);
		return 1;
	}
	if (check) {
		printf("configuration OK\n");
		relay_conf_free(&conf);
		return 0;
	}
	if (log_set_level(conf.log_level) < 0)
		fatalx("relay log_level=\"%s\" msg=\"unknown level\"",
		    conf.log_level);
	if (sign_init() < 0)
		fatalx("relay msg=\"libsodium failed to initialise\"");
	if (relay_init(&relay, &conf) < 0)
		fatalx("relay msg=\"out of memory\"");
	signals();
	if (webhook_start(&relay) < 0)
		fatalx("relay msg=\"cannot start the webhook thread\"");
	reload_init(path);
	if (server_start(&relay) == 0) {
		ops_ready(&relay);
		server_run();
		rc = 0;
	}
	ops_stopping();
	server_shutdown();
	dash_api_stop();
	webhook_stop();
	relay_free(&relay);
	relay_conf_free(&conf);
	log_info("relay stopped");
	return rc;
}
