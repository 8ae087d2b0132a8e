/*
 * message - freeing the queue's message and event structs.
 *
 * Pure. A struct queue_message owns every pointer in it, its events and
 * their strings (src/queue/queue.h); this is the one place that knows how
 * to release them, used by the queue after a commit and by callers that
 * build a message and then do not submit it.
 */
#include <stdlib.h>

#include "queue/queue.h"
#include "util/strv.h"

static void
event_free(struct queue_event *e)
{
	free(e->instance);
	free(e->trigger);
	free(e->tag);
	strv_free(e->recipients, e->n_recipients);
	strv_free(e->rcpt_to, e->n_rcpt_to);
	free(e->rewrite_received);
	free(e->rewrite_recovered);
}

/*
 * Frees m, its strings, its data and its events. NULL is a no-op.
 */
void
queue_message_free(struct queue_message *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_events; i++)
		event_free(&m->events[i]);
	free(m->events);
	free(m->mail_from);
	free(m->client_ip);
	free(m->helo);
	free(m->data);
	free(m);
}
