/*
 * The relay's configuration file (relay/config.c through common/conf.c and
 * inih): the whole input is the file. A file that loads also has its
 * listen addresses split and its allowed origins matched, as main.c and
 * the dashboard do.
 */
#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONF_ERR_LEN] = "", host[256];
	struct relay_conf c;
	int port;

	if (relay_conf_load_text(&c, "fuzz.conf", (const char *)data, size,
	    err) < 0) {
		fz_check(strncmp(err, "fuzz.conf:", 10) == 0,
		    "errors name the file and line");
	} else {
		if (relay_conf_addr(c.listen, host, sizeof(host), &port) == 0)
			fz_check(port >= 0 && port < 65536, "listen port");
		if (c.tls_listen &&
		    relay_conf_addr(c.tls_listen, host, sizeof(host),
		    &port) == 0)
			fz_check(port >= 0 && port < 65536, "tls_listen port");
		(void)relay_conf_origin_ok(&c, "http://127.0.0.1:8080");
		for (int i = 0; i < c.nhosts; i++)
			(void)relay_conf_host(&c, c.hosts[i].name);
	}
	relay_conf_free(&c);
	return 0;
}
