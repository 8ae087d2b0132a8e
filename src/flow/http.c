/*
 * http - the webhook step: POST the event JSON to the step's URL with
 * libcurl (multi interface), and classify the answer (flow/backoff.h).
 *
 * Not pure: network I/O on one multi handle driven by the engine's thread
 * (engine.c), so hundreds of requests run at once from one thread, and a
 * table of requests in flight per URL (at most the step's max_in_flight,
 * default 32, so a slow receiver is not flooded; a request over the limit
 * waits its turn, first come first served).
 * Every request carries Content-Type: application/json, Idempotency-Key
 * "<event id>:<step>", and, when the step has a secret, the signature
 * X-Mailtrigger-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">
 * (docs/flows.md shows how a receiver checks it). Redirects are not
 * followed. CURL types never leave this file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "flow/flow_int.h"
#include "util/xmalloc.h"

#define HTTP_HEADER_MAX 256

/* Requests in flight to one URL, and those waiting for a slot. */
struct flight {
	struct flight *next;
	char *url;
	unsigned n;
	struct step_job *wait_head, *wait_tail;
};

struct http_engine {
	CURLM *m;
	struct flight *flights; /* one per URL; freed with the engine */
	size_t running, waiting;
	bool draining;         /* http_stop(): start nothing more (atomic) */
	struct curl_waitfd *w; /* http_wait()'s copy of its fds */
	unsigned w_cap;
	step_done_fn *done;
	void *arg;
};

/* What the response callbacks fill. */
struct answer {
	struct step_result *res;
	int64_t retry_after_s;
};

/* One running request. */
struct request {
	CURL *e;
	struct curl_slist *h;
	struct answer a;
	struct flight *f;
	struct step_job *j;
	char errbuf[CURL_ERROR_SIZE];
};

bool
http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static struct flight *
flight_of(struct http_engine *h, const char *url)
{
	struct flight *f;

	for (f = h->flights; f != NULL; f = f->next)
		if (strcmp(f->url, url) == 0)
			return f;
	f = xcalloc(1, sizeof(*f));
	f->url = xstrdup(url);
	f->next = h->flights;
	h->flights = f;
	return f;
}

/* Keeps the first STEP_RESPONSE_MAX bytes of the body; drops the rest. */
static size_t
body_cb(char *p, size_t size, size_t n, void *arg)
{
	struct step_result *res = ((struct answer *)arg)->res;
	size_t len = size * n, room = sizeof(res->response) - res->response_len;

	if (len < room)
		room = len;
	memcpy(res->response + res->response_len, p, room);
	res->response_len += room;
	return len;
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;
	char v[HTTP_HEADER_MAX], *end = NULL;
	static const char name[] = "retry-after:";
	long secs;
	time_t when;

	if (len < sizeof(name) || len >= sizeof(v) ||
	    strncasecmp(p, name, sizeof(name) - 1) != 0)
		return len;
	memcpy(v, p + sizeof(name) - 1, len - (sizeof(name) - 1));
	v[len - (sizeof(name) - 1)] = '\0';
	secs = strtol(v, &end, 10);
	if (end != v && secs >= 0 && (*end == '\r' || *end == '\n'))
		a->retry_after_s = secs;
	else if ((when = curl_getdate(v, NULL)) > 0)
		a->retry_after_s = when > time(NULL) ? when - time(NULL) : 0;
	return len;
}

/*
 * The signature header of docs/flows.md: HMAC-SHA256 (RFC 2104) keyed by
 * the secret over "<t>.<body>", hex. out holds HTTP_HEADER_MAX bytes.
 */
static void
sign(const struct flow_step *st, const struct step_input *in, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0, i, k, len;
	char prefix[32], *msg;

	k = (size_t)snprintf(prefix, sizeof(prefix), "%lld.",
	    (long long)in->now_s);
	len = k + in->event_len;
	msg = xmalloc(len);
	memcpy(msg, prefix, k);
	memcpy(msg + k, in->event_json, in->event_len);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, st->secret,
		strlen(st->secret), (unsigned char *)msg, len, mac, sizeof(mac),
		&mac_len) == NULL)
		abort(); /* OpenSSL without SHA-256: cannot happen */
	free(msg);
	k = (size_t)snprintf(out, HTTP_HEADER_MAX,
	    "X-Mailtrigger-Signature: t=%lld,v1=", (long long)in->now_s);
	for (i = 0; i < mac_len && k + 2 < HTTP_HEADER_MAX; i++)
		k += (size_t)snprintf(out + k, HTTP_HEADER_MAX - k, "%02x",
		    mac[i]);
}

/* The request headers; free with curl_slist_free_all(). */
static struct curl_slist *
headers(const struct flow_step *st, const struct step_input *in)
{
	struct curl_slist *h = NULL;
	char line[HTTP_HEADER_MAX];

	h = curl_slist_append(h, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip before the body. */
	h = curl_slist_append(h, "Expect:");
	snprintf(line, sizeof(line), "Idempotency-Key: %s:%u", in->event_id,
	    in->step);
	h = curl_slist_append(h, line);
	if (st->secret != NULL) {
		sign(st, in, line);
		h = curl_slist_append(h, line);
	}
	snprintf(line, sizeof(line), "User-Agent: mailtrigger/%s", MT_VERSION);
	h = curl_slist_append(h, line);
	if (h == NULL)
		abort(); /* allocation failed: as xmalloc */
	return h;
}

static CURL *
easy_new(const struct flow_step *st, const struct step_input *in,
    struct curl_slist *h, struct answer *a, char *errbuf)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		abort();
	curl_easy_setopt(e, CURLOPT_URL, st->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, in->event_json);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)in->event_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)st->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	return e;
}

/* Starts j's request on the multi handle; f has a slot for it. */
static void
start(struct http_engine *h, struct flight *f, struct step_job *j)
{
	struct request *rq = xcalloc(1, sizeof(*rq));

	j->at_ms = flow_now_ms();
	j->in.now_s = j->at_ms / 1000;
	rq->j = j;
	rq->f = f;
	rq->a.res = &j->res;
	rq->a.retry_after_s = BACKOFF_NO_RETRY_AFTER;
	rq->h = headers(j->st, &j->in);
	rq->e = easy_new(j->st, &j->in, rq->h, &rq->a, rq->errbuf);
	curl_easy_setopt(rq->e, CURLOPT_PRIVATE, rq);
	if (curl_multi_add_handle(h->m, rq->e) != CURLM_OK)
		abort(); /* only a bad handle or out of memory */
	j->priv = rq;
	f->n++;
	h->running++;
}

struct http_engine *
http_engine_new(step_done_fn *done, void *arg)
{
	struct http_engine *h = xcalloc(1, sizeof(*h));

	h->m = curl_multi_init();
	if (h->m == NULL)
		abort();
	h->done = done;
	h->arg = arg;
	return h;
}

void
http_engine_free(struct http_engine *h)
{
	struct flight *f, *next;

	if (h == NULL)
		return;
	for (f = h->flights; f != NULL; f = next) {
		next = f->next;
		free(f->url);
		free(f);
	}
	curl_multi_cleanup(h->m);
	free(h->w);
	free(h);
}

void
http_submit(struct http_engine *h, struct step_job *j)
{
	struct flight *f = flight_of(h, j->st->url);

	if (f->n < j->st->max_in_flight && f->wait_head == NULL) {
		start(h, f, j);
		return;
	}
	j->next = NULL;
	if (f->wait_tail != NULL)
		f->wait_tail->next = j;
	else
		f->wait_head = j;
	f->wait_tail = j;
	h->waiting++;
}

/* Starts the jobs waiting for f that now fit. */
static void
start_waiting(struct http_engine *h, struct flight *f)
{
	struct step_job *j;

	while (!__atomic_load_n(&h->draining, __ATOMIC_ACQUIRE) &&
	    (j = f->wait_head) != NULL && f->n < j->st->max_in_flight) {
		f->wait_head = j->next;
		if (f->wait_head == NULL)
			f->wait_tail = NULL;
		h->waiting--;
		start(h, f, j);
	}
}

/* The result of a finished request; frees it and frees its slot. */
static void
finish(struct http_engine *h, struct request *rq, CURLcode rc)
{
	struct step_result *res = &rq->j->res;
	long status = 0;

	if (rc == CURLE_OK)
		curl_easy_getinfo(rq->e, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(h->m, rq->e);
	curl_easy_cleanup(rq->e);
	curl_slist_free_all(rq->h);
	res->code = rc == CURLE_OK ? (int)status : -1;
	res->outcome = backoff_classify_http(rc == CURLE_OK ? (int)status : 0);
	res->retry_after_s = rq->a.retry_after_s;
	if (rc != CURLE_OK)
		snprintf(res->reason, sizeof(res->reason), "%.200s",
		    rq->errbuf[0] != '\0' ? rq->errbuf :
					    curl_easy_strerror(rc));
	else
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld", status);
	rq->j->latency_ms = flow_now_ms() - rq->j->at_ms;
	rq->j->priv = NULL;
	rq->f->n--;
	h->running--;
	start_waiting(h, rq->f);
	h->done(h->arg, rq->j);
	free(rq);
}

/* Hands every finished transfer to finish(). */
static void
reap(struct http_engine *h)
{
	struct request *rq;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->m, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&rq);
		finish(h, rq, msg->data.result);
	}
}

void
http_wait(struct http_engine *h, struct pollfd *p, unsigned n, int timeout_ms)
{
	struct curl_waitfd *w;
	int running;
	unsigned i;

	if (n > h->w_cap) {
		h->w_cap = n * 2;
		h->w = xreallocarray(h->w, h->w_cap, sizeof(*h->w));
	}
	w = h->w;
	for (i = 0; i < n; i++)
		w[i] = (struct curl_waitfd){ .fd = p[i].fd,
			.events = (short)((p[i].events & POLLIN ?
						  CURL_WAIT_POLLIN :
						  0) |
			    (p[i].events & POLLOUT ? CURL_WAIT_POLLOUT : 0)) };
	curl_multi_poll(h->m, w, n, timeout_ms, NULL);
	for (i = 0; i < n; i++)
		p[i].revents = (short)((w[i].revents & CURL_WAIT_POLLIN ?
					       POLLIN :
					       0) |
		    (w[i].revents & CURL_WAIT_POLLOUT ? POLLOUT : 0));
	curl_multi_perform(h->m, &running);
	reap(h);
}

void
http_wakeup(struct http_engine *h)
{
	curl_multi_wakeup(h->m);
}

void
http_stop(struct http_engine *h)
{
	__atomic_store_n(&h->draining, true, __ATOMIC_RELEASE);
	curl_multi_wakeup(h->m);
}

void
http_drop_waiting(struct http_engine *h)
{
	struct step_job *j;
	struct flight *f;

	for (f = h->flights; f != NULL; f = f->next)
		while ((j = f->wait_head) != NULL) {
			f->wait_head = j->next;
			if (f->wait_head == NULL)
				f->wait_tail = NULL;
			h->waiting--;
			j->not_run = true;
			h->done(h->arg, j);
		}
}

size_t
http_pending(const struct http_engine *h)
{
	return h->running + h->waiting;
}
