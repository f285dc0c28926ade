/*
 * sno-agent: a per-second host sampler that streams to the relay only while
 * someone watches. Modules in reading order:
 *   main.c         command line, config, signals; hands over to stream.c
 *   agent_conf.c   [agent] keys and the host key file
 *   stream.c       the loop: idle check-in, then streaming on a fixed grid,
 *                  the in-order send ring, back-off
 *   sampler.c      where a sample is read: one pass over the collectors,
 *                  written as JSON
 *   sample_cpu.c sample_mem.c sample_net.c sample_disk.c sample_fs.c
 *   sample_cg.c    system-wide collectors, one per source (pfile.c: the
 *                  shared pread-and-parse helper)
 *   proc_pids.c    which PIDs a scan looks at
 *   proc_table.c   the process table, the only reader of /proc/PID files
 *   proc_parse.c   stat and status text parsers
 *   proc_top.c     task counts and the top-N rows
 *   proc_cmd.c     command line scrubbing; proc_json.c the process rows
 *   uplink.c       where a sample crosses the wire: signed HTTPS requests
 *                  on libcurl multi (the only includer of curl/curl.h)
 *   uplink_url.c   relay URLs and proxies
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent_conf.h"
#include "buf.h"
#include "log.h"
#include "sample.h"
#include "sampler.h"
#include "sign.h"
#include "stream.h"
#include "uplink.h"

#define AGENT_DEFAULT_CONF "/etc/sno/agent.conf"

static volatile sig_atomic_t main_stop;

/*
 * GnuTLS is in the agent only as a dependency of Debian's libcurl4 (through
 * libldap and librtmp); the agent's TLS is OpenSSL. Its library constructor
 * would initialise it anyway: ASN.1 trees, the system priority file, the
 * p11-kit trust module, about 0.4 MiB of heap and a share of the start-up
 * CPU. This is GnuTLS's GNUTLS_SKIP_GLOBAL_INIT (gnutls.h), spelt out so
 * the build needs no GnuTLS header: the constructor asks this function,
 * which the executable interposes (the link exports it, as libgnutls
 * refers to it), whether to skip. It is the in-binary form of
 * GNUTLS_NO_IMPLICIT_INIT=1, so it holds however the agent is started.
 * libldap and librtmp call gnutls_global_init themselves before any use.
 */
int _gnutls_global_init_skip(void);

int
_gnutls_global_init_skip(void)
{
	return 1;
}

static void
main_on_signal(int signo)
{
	(void)signo;
	main_stop = 1;
}

static void
main_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sno-agent [-c FILE] [--once | --check-config]\n"
	    "  -c, --config FILE  configuration (default " AGENT_DEFAULT_CONF
	    ")\n"
	    "      --once         print one sample as JSON and exit\n"
	    "      --check-config check the configuration and exit\n"
	    "      --help-config  list every configuration key and exit\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         this text\n");
}

/* Raises the open-file soft limit to the hard one; returns the soft one. */
static int
main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1 << 20 ? 1 << 20 : (int)rl.rlim_cur;
}

/* The host id for --once without one configured: the hostname, cleaned. */
static void
main_default_host(char *out, size_t cap)
{
	char h[256];
	size_t i;

	if (gethostname(h, sizeof(h)) < 0)
		snprintf(h, sizeof(h), "localhost");
	h[sizeof(h) - 1] = '\0';
	for (i = 0; h[i] && i + 1 < cap && i < SAMPLE_HOST_MAX; i++)
		out[i] = isalnum((unsigned char)h[i]) || strchr("._-", h[i]) ?
		    h[i] : '_';
	out[i] = '\0';
	if (!sample_host_valid(out))
		snprintf(out, cap, "localhost");
}

/* --once: two readings one interval apart, one sample on stdout. */
static int
main_once(const struct agent_conf *c)
{
	struct sampler_opts o = {"/proc", "/sys", "/sys/fs/cgroup", NULL,
	    (int)c->top_processes, c->send_cmdline, 0};
	struct timespec ts = {c->interval_ms / 1000,
	    (c->interval_ms % 1000) * 1000000};
	struct sampler *s = NULL;
	char host[SAMPLE_HOST_MAX + 1];
	struct buf out;
	int r = -1;

	buf_init(&out, SAMPLE_MAX_BYTES);
	main_default_host(host, sizeof(host));
	o.host = c->host_id ? c->host_id : host;
	o.max_fds = main_raise_nofile() - 64;
	if ((s = sampler_new(&o)) == NULL) {
		log_warn("agent cannot open collectors");
		goto out;
	}
	if (sampler_collect(s) < 0)
		goto out;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !main_stop)
		;
	if (sampler_collect(s) < 0 || sampler_json(s, 1, &out) < 0) {
		log_warnx("agent sample failed");
		goto out;
	}
	printf("%s\n", out.data);
	r = fflush(stdout) == 0 ? 0 : -1;
out:
	sampler_free(s);
	buf_free(&out);
	return r;
}

/* --check-config also loads the CA certificates the agent would use. */
static int
main_check_tls(const struct agent_conf *c, const char *path)
{
	struct uplink_opts uo = {c->urls, c->nurls, c->host_id, c->key,
	    c->ca_file, c->proxy};
	struct uplink *u;
	char err[256];

	if ((u = uplink_new(&uo, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		return -EINVAL;
	}
	uplink_free(u);
	return 0;
}

static void
main_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = main_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"check-config", no_argument, NULL, 'k'},
		{"help-config", no_argument, NULL, 'H'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	char err[CONF_ERR_LEN];
	struct agent_conf conf;
	int ch, once = 0, check = 0, r;

	while ((ch = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'o': once = 1; break;
		case 'k': check = 1; break;
		case 'H': agent_conf_print_keys(stdout); return 0;
		case 'V': printf("sno-agent %s\n", SNO_VERSION); return 0;
		case 'h': main_usage(stdout); return 0;
		default: main_usage(stderr); return 1;
		}
	}
	if (optind < argc || (once && check)) {
		main_usage(stderr);
		return 1;
	}
	/*
	 * Blocks of 128 KiB and more (the process table's arrays, the
	 * sampler) get their own mappings: realloc moves them with mremap,
	 * free unmaps them, and only their touched pages are resident. glibc
	 * would raise this threshold the first time a library frees such a
	 * block, after which they would grow in the heap and leave freed
	 * copies resident in its middle (0.2 MiB with 1,000 processes).
	 * Setting it turns that off; nothing allocates such blocks per sample.
	 */
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
	if (sign_init() < 0)
		fatalx("agent cannot initialise libsodium");
	agent_conf_defaults(&conf);
	if ((path || !once) && agent_conf_load(&conf, path ? path :
	    AGENT_DEFAULT_CONF, once, err) < 0) {
		fprintf(stderr, "%s\n", err);
		agent_conf_free(&conf);
		return 1;
	}
	if (check) {
		r = main_check_tls(&conf, path ? path : AGENT_DEFAULT_CONF);
		if (r == 0)
			printf("configuration OK\n");
		agent_conf_free(&conf);
		return r < 0 ? 1 : 0;
	}
	main_signals();
	if (once)
		r = main_once(&conf);
	else
		r = stream_run(&conf, main_raise_nofile() - 64, &main_stop);
	agent_conf_free(&conf);
	return r < 0 ? 1 : 0;
}
