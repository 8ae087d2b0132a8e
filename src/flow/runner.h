/*
 * runner - delivery: claim due events from the queue, build each event's
 * JSON, run its trigger's flow step by step, record every attempt, and
 * complete, retry (flow/backoff.h) or dead-letter it.
 *
 * Not pure: owns three threads, the ledger (one delivery connection to
 * the queue, queue.h "Delivery", batching its writes), the parser (MIME
 * to event JSON) and the engine (every http and exec step at once, from
 * one thread), and holds a reference to
 * the current config. Delivery is at least once: an event interrupted by
 * a crash or a stop runs again from its first unfinished step, so every
 * step carries the event id (Idempotency-Key "<event id>:<step>" for
 * http). docs/flows.md has the whole story.
 */
#ifndef MT_FLOW_RUNNER_H
#define MT_FLOW_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct runner;

/*
 * Starts delivery on the queue at cfg->queue_path (queue_open() must
 * have created it). Events left running by a previous process are made
 * due at once. Takes a reference to cfg. Returns NULL and writes a reason
 * to err on failure.
 */
struct runner *runner_start(struct config *cfg, char *err, size_t errlen);
/*
 * Intake committed mail: look for due events now, not at the next poll.
 * Cheap, any thread, a no-op when no runner is running.
 */
void runner_kick(void);
/* Flows of events claimed from now on use cfg (SIGHUP reload). */
void runner_set_config(struct runner *r, struct config *cfg);
/*
 * Stops claiming, lets running steps finish for up to grace_ms, then
 * frees everything. An event cut short is still running in the queue and
 * runs again at the next start. NULL is a no-op.
 */
void runner_stop(struct runner *r, uint64_t grace_ms);

#endif
