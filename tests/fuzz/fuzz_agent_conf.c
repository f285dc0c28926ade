/*
 * The agent's configuration file (agent/agent_conf.c through common/conf.c
 * and inih): the whole input is the file. sampling_only, so that the
 * key_file the input names is never opened.
 */
#include "agent_conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONF_ERR_LEN] = "";
	struct agent_conf c;

	agent_conf_defaults(&c);
	if (agent_conf_load_text(&c, "fuzz.conf", (const char *)data, size, 1,
	    err) < 0)
		fz_check(strncmp(err, "fuzz.conf:", 10) == 0,
		    "errors name the file and line");
	else
		fz_check(c.nurls >= 0 && c.nurls <= AGENT_URLS_MAX,
		    "urls within AGENT_URLS_MAX");
	agent_conf_free(&c);
	return 0;
}
