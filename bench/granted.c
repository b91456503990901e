/* granted: what relay-check execs in bench/redis.sh's login-to-grant benchmark. It exits 0 if
 * relay-check granted relay (RELAYCLIENT is set, whatever its value), 3 if it did not, so
 * that a relay-check that failed (111) is told apart from a refusal. Built small and static:
 * it runs once for every poll. */
#include <stdlib.h>

int main(void)
{
    return getenv("RELAYCLIENT") != NULL ? 0 : 3;
}
