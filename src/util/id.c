#include "util/id.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void
id_format(char out[ID_LEN + 1], uint64_t now_ms, uint64_t random40)
{
	int i;

	for (i = 9; i >= 0; i--) {
		out[i] = crockford[now_ms & 31];
		now_ms >>= 5;
	}
	for (i = 15; i >= 10; i--) {
		out[i] = crockford[random40 & 31];
		random40 >>= 5;
	}
	out[ID_LEN] = '\0';
}
