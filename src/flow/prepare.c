/*
 * prepare - what happens to a claimed event before its flow: parse the
 * message (mail/message.h), apply the trigger's rules (route/autoreply.h,
 * route/extract.h, flow/template.h + route/dedup.h) and build the event
 * the steps get.
 *
 * Pure: no I/O, no clock. The runner does the one queue look-up the
 * rules need (the dedup window, queue_dedup()) with the key computed
 * here. The order follows docs/flows.md: automatic mail first (an ignored
 * auto-reply is not even extracted), then properties (a required one
 * missing dead-letters the event), then the dedup key, which may use
 * the properties.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow_int.h"
#include "flow/template.h"
#include "mail/message.h"
#include "route/autoreply.h"
#include "route/extract.h"
#include "util/xmalloc.h"

/* A string member of o, or NULL. */
static const char *
member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The parsed headers as the rules take them (strings borrowed). */
static struct header_ref *
header_refs(const json_t *msg, size_t *n)
{
	const json_t *list = json_object_get(msg, "headers");
	struct header_ref *h;
	size_t i, k = 0;

	h = xcalloc(json_array_size(list) + 1, sizeof(*h));
	for (i = 0; i < json_array_size(list); i++) {
		const json_t *f = json_array_get(list, i);

		if (member(f, "name") == NULL || member(f, "value") == NULL)
			continue;
		h[k].name = member(f, "name");
		h[k].value = member(f, "value");
		k++;
	}
	*n = k;
	return h;
}

/* Runs the extract rules; false (with p->reason) if one is missing. */
static bool
properties(const struct trigger *t, const struct queue_claim *c,
    const json_t *msg, const struct header_ref *h, size_t n_h,
    struct prepared *p)
{
	struct extract_input in = { 0 };
	struct extract_result r = { 0 };
	json_t *props = json_object_get(p->event, "properties");
	bool ok;
	size_t i;

	in.subject = member(msg, "subject");
	in.subject_len = in.subject != NULL ? strlen(in.subject) : 0;
	in.text = member(msg, "text");
	in.text_len = in.text != NULL ? strlen(in.text) : 0;
	in.headers = h;
	in.n_headers = n_h;
	in.tag = c->tag[0] != '\0' ? c->tag : NULL;
	ok = extract_run(t->extract, t->n_extract, &in, &r);
	for (i = 0; i < r.n; i++)
		if (r.values[i].value != NULL)
			json_object_set_new(props, r.values[i].name,
			    json_stringn(r.values[i].value, r.values[i].len));
	if (!ok)
		snprintf(p->reason, sizeof(p->reason), "%s",
		    r.reason != NULL ? r.reason : "a property is missing");
	extract_result_free(&r);
	return ok;
}

/* The trigger's dedup key over the event; sets "dedup_key". */
static void
dedup_key(const struct trigger *t, const struct queue_claim *c,
    const json_t *msg, struct prepared *p)
{
	struct dedup_input in = { 0 };
	struct template_result r = { 0 };
	bool fallback = false;

	in.instance = c->instance;
	in.trigger = c->trigger;
	in.message_id = member(msg, "message_id");
	in.from = member(json_object_get(msg, "from"), "address");
	in.date = member(msg, "date");
	in.text = member(msg, "text");
	in.text_len = in.text != NULL ? strlen(in.text) : 0;
	template_dedup_key(t->dedup_key, p->event, &in, p->dedup_key, &fallback,
	    &r);
	p->dedup_fallback = fallback;
	template_result_free(&r);
	json_object_set_new(p->event, "dedup_key", json_string(p->dedup_key));
}

void
flow_prepare(const struct queue_claim *c, const struct trigger *t,
    struct prepared *p)
{
	json_t *msg = message_parse(c->data, c->len, NULL);
	struct autoreply_verdict v;
	struct header_ref *h;
	size_t n_h;

	memset(p, 0, sizeof(*p));
	p->event = flow_event_object(c, msg);
	p->subject = member(msg, "subject");
	h = header_refs(msg, &n_h);
	autoreply_detect(c->mail_from, h, n_h, NULL, &v);
	p->autoreply = v;
	if (v.automatic && t->auto_replies == AUTO_REPLIES_IGNORE) {
		p->verdict = PREPARE_IGNORE;
		snprintf(p->reason, sizeof(p->reason), "automatic mail: %s",
		    v.reason);
		goto done;
	}
	if (v.automatic && t->auto_replies == AUTO_REPLIES_FLAG)
		json_object_set_new(p->event, "auto_reply", json_true());
	if (!properties(t, c, msg, h, n_h, p)) {
		p->verdict = PREPARE_DEAD;
		goto done;
	}
	dedup_key(t, c, msg, p);
	p->verdict = PREPARE_RUN;
done:
	free(h);
	/* p->event holds a reference: p->subject stays valid with it. */
	json_decref(msg);
}

void
flow_prepared_free(struct prepared *p)
{
	json_decref(p->event);
	p->event = NULL;
}
