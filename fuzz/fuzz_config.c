/*
 * fuzz_config - libFuzzer target for the YAML config parser and validator.
 *
 * Feeds arbitrary bytes to config_parse() and checks its contract: either a
 * config or at least one error, every error positioned ("NAME:" prefix),
 * and nothing leaked or overrun (ASan/UBSan). libfyaml 0.7.12 itself leaks
 * on some syntax errors (docs/config.md): those leaks are suppressed by
 * library, ours are not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libfyaml.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	size_t i;

	cfg = config_parse("f.yaml", (const char *)data, size, &errs);
	if (cfg == NULL && errs.n == 0)
		abort(); /* a refusal must say why */
	for (i = 0; i < errs.n; i++)
		if (strncmp(errs.items[i], "f.yaml:", 7) != 0)
			abort(); /* every error names the file */
	if (cfg != NULL && cfg->n_listeners == 0)
		abort(); /* the default listener is always there */
	config_unref(cfg);
	config_errors_free(&errs);
	return 0;
}
