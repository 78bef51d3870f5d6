/* Not a parser: the machine's reference for make fuzz-long.  It reads
 * each input once and nothing else, built and run like the fast targets
 * (clang, ASan + UBSan, libFuzzer's coverage and mutations), so its
 * rate is what libFuzzer and the sanitizers cost on this machine today.
 * fuzz-long runs it before the first target and after each one, and
 * gives each target's rate as a fraction of the baseline's around it,
 * which stays comparable between runs when the machine's speed does not
 * (on the 2-core CI machine it has swung by a third within a run). */
#include <config.h>

#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"

static volatile uint8_t sum; /* each byte is read, not optimised away */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++)
		sum += data[i];
	return 0;
}
