/*
 * route_cmd - `mailtrigger route`: the decision the gateway would take for
 * an envelope, and for a message what its trigger's rules would make of
 * it, without a server and without touching the queue (docs/route.md).
 *
 * The shell around pure code: the RCPT decision is route_rcpt()
 * (route/router.h, sender policy included) and the per-event rules are
 * flow_prepare() (flow/prepare.c), exactly what the SMTP session and the
 * delivery workers call; this module only reads the inputs and prints.
 */
#ifndef MT_ROUTE_CMD_H
#define MT_ROUTE_CMD_H

/*
 * mailtrigger route [--config FILE] --from ADDR --to ADDR [--to ADDR...]
 * [--json] [FILE | -]. argv[0] is "route". Exit 0 when every recipient
 * is accepted and every event would run its flow, 1 when one is refused
 * or would not run (or the config or message cannot be read), 2 for a
 * usage error.
 */
int cmd_route(int argc, char **argv);

#endif
