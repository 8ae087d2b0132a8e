/* placeholder until the CLI lands */
#include <stdio.h>
int
main(void)
{
	puts("mailtrigger " MT_VERSION);
	return 0;
}
