/*
 * http - the webhook step: POST the event JSON to the step's URL with
 * libcurl (multi interface), and classify the answer (flow/backoff.h).
 *
 * Not pure: network I/O and a process-wide table of requests in flight
 * per URL (at most the step's max_in_flight, default 32, so a slow
 * receiver is not flooded; a worker over the limit waits its turn).
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

/* Requests in flight to one URL. The list only grows (one per URL). */
struct flight {
	struct flight *next;
	char *url;
	unsigned n;
};

static pthread_mutex_t flights_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flights_cv = PTHREAD_COND_INITIALIZER;
static struct flight *flights;

/* What the response callbacks fill. */
struct answer {
	struct step_result *res;
	int64_t retry_after_s;
};

bool
http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static struct flight *
flight_of(const char *url)
{
	struct flight *f;

	for (f = flights; f != NULL; f = f->next)
		if (strcmp(f->url, url) == 0)
			return f;
	f = xcalloc(1, sizeof(*f));
	f->url = xstrdup(url);
	f->next = flights;
	flights = f;
	return f;
}

/* Takes a slot for url, waiting while max requests are in flight. */
static struct flight *
flight_enter(const char *url, unsigned max)
{
	struct flight *f;

	pthread_mutex_lock(&flights_mu);
	f = flight_of(url);
	while (f->n >= max)
		pthread_cond_wait(&flights_cv, &flights_mu);
	f->n++;
	pthread_mutex_unlock(&flights_mu);
	return f;
}

static void
flight_leave(struct flight *f)
{
	pthread_mutex_lock(&flights_mu);
	f->n--;
	pthread_cond_broadcast(&flights_cv);
	pthread_mutex_unlock(&flights_mu);
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

/* Drives the transfer on a multi handle to its end; its CURLcode. */
static CURLcode
perform(CURL *e)
{
	CURLM *m = curl_multi_init();
	CURLMsg *msg;
	CURLcode rc = CURLE_FAILED_INIT;
	int running = 1, left;

	if (m == NULL)
		abort();
	curl_multi_add_handle(m, e);
	while (running > 0) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running > 0 &&
		    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			rc = msg->data.result;
	curl_multi_remove_handle(m, e);
	curl_multi_cleanup(m);
	return rc;
}

void
http_step_run(const struct flow_step *st, const struct step_input *in,
    struct step_result *res)
{
	struct answer a = { .res = res,
		.retry_after_s = BACKOFF_NO_RETRY_AFTER };
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = headers(st, in);
	struct flight *f = flight_enter(st->url, st->max_in_flight);
	CURL *e = easy_new(st, in, h, &a, errbuf);
	CURLcode rc = perform(e);
	long status = 0;

	flight_leave(f);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	res->code = rc == CURLE_OK ? (int)status : -1;
	res->outcome = backoff_classify_http(rc == CURLE_OK ? (int)status : 0);
	res->retry_after_s = a.retry_after_s;
	if (rc != CURLE_OK)
		snprintf(res->reason, sizeof(res->reason), "%.200s",
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	else
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld", status);
}
