/*
 * thread - starting a worker thread that takes no signals.
 *
 * The event loop thread handles SIGTERM, SIGHUP and SIGINT (main.c); a
 * helper thread (the queue's writer, retention, checkpoints) must never
 * be the one the kernel picks to deliver them. A new thread inherits the
 * creating thread's signal mask, so it is created with every signal
 * blocked and the caller's mask is put back after.
 */
#ifndef MT_UTIL_THREAD_H
#define MT_UTIL_THREAD_H

#include <pthread.h>

/* pthread_create() with every signal blocked in the new thread. */
int thread_start_quiet(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
