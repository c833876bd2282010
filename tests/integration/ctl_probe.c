/*
 * ctl_probe.c — the control-socket client (src/ctl/ctl_client.c) as a
 * program of its own, for tests/integration/test_ctl.sh while `tundra`
 * itself does not dispatch `stat`/`conns` to it:
 *
 *   it_ctl_probe stat [--json|--prometheus] [--watch S] [--dev D|--socket P]
 *   it_ctl_probe conns [--json] [...]
 */
#include "ctl/ctl.h"

int main(int argc, char **argv)
{
	return ctl_client_main(argc - 1, argv + 1);
}
