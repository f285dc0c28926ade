/*
 * Unit tests for command-line scrubbing of program-specific password flags
 * (agent/proc_cmd.c); the generic rules are in test_agent_parsers.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../agent/proc_table.h"

/* argv as one string with '|' for the NULs between arguments. */
static void
check(const char *argv, const char *want)
{
	char raw[256], out[PROC_CMD_MAX + 1];
	size_t n = strlen(argv);

	memcpy(raw, argv, n + 1);
	for (size_t i = 0; i < n; i++)
		if (raw[i] == '|')
			raw[i] = '\0';
	proc_scrub(raw, n + 1, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
password_flags_of_known_programs_are_masked(void **state)
{
	(void)state;
	check("mysql|-uroot|-phunter2|shop", "mysql -uroot -p*** shop");
	check("/usr/bin/mysqldump|-u|root|-phunter2|db",
	    "/usr/bin/mysqldump -u root -p*** db");
	check("mariadb|-p|-h|db1", "mariadb -p -h db1");
	check("sshpass|-p|hunter2|ssh|host", "sshpass -p *** ssh host");
	check("sshpass|-phunter2|ssh|host", "sshpass -p*** ssh host");
	check("redis-cli|-a|hunter2|-p|6379", "redis-cli -a *** -p 6379");
	check("mysqlsh|-phunter2", "mysqlsh -p***");	/* any mysql* */
}

static void
same_flags_of_other_programs_stay(void **state)
{
	(void)state;
	check("ssh|-p|2222|host", "ssh -p 2222 host");
	check("ssh|-p2222|host", "ssh -p2222 host");
	check("find|/|-perm|644|-print", "find / -perm 644 -print");
	check("ls|-a|/tmp", "ls -a /tmp");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(password_flags_of_known_programs_are_masked),
		cmocka_unit_test(same_flags_of_other_programs_stay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
