/* tmc.h: the C ABI of libtinympcache.so, as seen by tiny_mp_cache/_bindings.py.
 *
 * This file is the contract between the Go library (go/capi/main.go) and the
 * cffi cdef in Python, and the one place the status codes and the fast
 * paths' operations are written: main.go includes it with TMC_STATUSES_ONLY
 * defined (cgo declares the functions itself, without const), and Python
 * reads them from its cdef, which tests/test_bindings.py checks against
 * this file.
 *
 * Ownership rules:
 *  - Every pointer passed in is only read during the call; Go keeps none.
 *  - Every char* returned through an out-parameter (values, key lists, raw
 *    replies) is malloc'ed by Go and owned by the caller, who frees it with
 *    tmc_free. On any status other than TMC_OK nothing is allocated.
 *  - Error messages are written, NUL-terminated and truncated to fit, into the
 *    caller's buffer err[0..err_cap). Nothing to free.
 *  - Handles are plain integers, never Go pointers.
 */
#include <stddef.h>
#include <stdint.h>

enum tmc_status {
    TMC_OK          = 0,   /* success */
    TMC_NIL         = 1,   /* success, key absent (get/pop) */
    TMC_ERR_CONN    = -1,  /* cannot connect, or connection lost */
    TMC_ERR_TIMEOUT = -2,  /* the operation timed out */
    TMC_ERR_PROTO   = -3,  /* malformed reply from the server */
    TMC_ERR_SERVER  = -4,  /* the server answered with an error reply (-ERR ...) */
    TMC_ERR_ARG     = -5,  /* bad address, bad config, unknown handle */
    TMC_ERR_INTR    = -6,  /* a signal interrupted the call and the signal
                              check (tmc_set_signal_check) said to stop */
};

/* The fast paths: a command run by the library, its reply parsed in Go.
 * One export per shape of reply, told which command by its operation; a
 * Command in tiny_mp_cache/_commands.py names its operation (fast="TMC_GET").
 * An operation ending in _DEADLINE also reads each key's PEXPIRETIME in the
 * same write (one round trip): the key's deadline in Unix milliseconds
 * (-1: none, -2: no such key), for a client that keeps the value until
 * then (the near cache). */
enum tmc_set_op {    /* tmc_set: TMC_OK */
    TMC_SET,         /* SET key val */
};
enum tmc_value_op {  /* tmc_value: a value, or TMC_NIL */
    TMC_GET,         /* GET key; retried once */
    TMC_GETDEL,      /* GETDEL key */
    TMC_GET_DEADLINE,/* GET key, and *deadline, set on TMC_OK and TMC_NIL; retried once */
    TMC_GET_SHARED,  /* TMC.GET key: GET, but a shared value is the error TMCSHARED <size>; retried once */
    TMC_GETDEL_SHARED,/* TMC.GETDEL key: GETDEL, but a shared value is TMCSHARED <size>, and stays */
};
enum tmc_int_op {    /* tmc_int: an integer in *out */
    TMC_DEL,         /* DEL key; retried once */
    TMC_DBSIZE,      /* DBSIZE; retried once */
    TMC_RPUSH,       /* RPUSH key val: the list's new length */
    TMC_LPUSH,       /* LPUSH key val */
};
enum tmc_list_op {   /* tmc_list: *count byte strings (see tmc_list) */
    TMC_KEYS,        /* KEYS keys[0] (n is 1); retried once */
    TMC_MGET,        /* MGET keys[0..n), in key order; retried once */
    TMC_MGET_DEADLINE, /* MGET, and deadlines[0..n) (the caller's array); retried once */
};

#ifndef TMC_STATUSES_ONLY

/* Client. addr is "HOST:PORT", "unix:///path.sock" or "redis://HOST:PORT[/0]".
 * timeout (seconds, > 0) bounds connecting and every call as a whole.
 * max_reply (bytes, > 0) bounds the replies one call may read: a server
 * that declares or sends more gets TMC_ERR_PROTO, before anything is
 * allocated for it. Nesting deeper than 64 levels is TMC_ERR_PROTO too.
 * One handle may be used from many threads; calls on it are serialised.
 * A call that fails with anything but TMC_ERR_SERVER drops the connection.
 * A lost connection is re-dialled on the next call; only idempotent calls
 * (the operations marked "retried once" below, and command and pipeline
 * when the caller says so) are retried once within the same call, which
 * the timeout bounds as a whole, retry included. */
int  tmc_open(const char *addr, size_t addr_len, double timeout, size_t max_reply,
              uint64_t *out, char *err, size_t err_cap);
void tmc_close(uint64_t h);

int tmc_set(uint64_t h, const char *key, size_t key_len,
            const char *val, size_t val_len, char *err, size_t err_cap);
/* value: TMC_OK with *out/*out_len set, or TMC_NIL when the key is absent.
 * A value that fits in buf (buf_cap bytes, two of them spare) is written
 * there and *out == buf; a larger one is malloc'ed, *out != buf, and the
 * caller frees it with tmc_free. buf may be NULL with buf_cap 0. deadline
 * is written by TMC_GET_DEADLINE only, and may be NULL for the others. */
int tmc_value(uint64_t h, int op, const char *key, size_t key_len, char *buf, size_t buf_cap,
              char **out, size_t *out_len, int64_t *deadline, char *err, size_t err_cap);
/* int: val is read by TMC_RPUSH and TMC_LPUSH only, key by all but
 * TMC_DBSIZE (either may be NULL with length 0 where unread). */
int tmc_int(uint64_t h, int op, const char *key, size_t key_len, const char *val, size_t val_len,
            int64_t *out, char *err, size_t err_cap);
/* list: *out holds *count entries, each a 4-byte little-endian length
 * followed by that many bytes, or the length 0xFFFFFFFF alone for a
 * missing value (MGET); freed with tmc_free. deadlines is written by
 * TMC_MGET_DEADLINE only, and may be NULL for the others. */
int tmc_list(uint64_t h, int op, int n, const char **keys, const size_t *key_len,
             char **out, size_t *out_len, int64_t *count, int64_t *deadlines,
             char *err, size_t err_cap);
/* command: sends any command (argv[i] of arglen[i] bytes) and returns the
 * server's raw RESP2 reply, unparsed. An error reply is still TMC_OK here;
 * the caller parses it. Retried once, like get, if retry is nonzero: the
 * caller says whether the command is safe to repeat. */
int tmc_command(uint64_t h, int retry, int argc, const char **argv, const size_t *arglen,
                char **out, size_t *out_len, char *err, size_t err_cap);
/* command_wait: tmc_command for a command that blocks on the server (BLPOP):
 * the call may take wait seconds longer than the timeout; wait < 0 removes
 * the time limit. Not retried. */
int tmc_command_wait(uint64_t h, double wait, int argc, const char **argv,
                     const size_t *arglen, char **out, size_t *out_len,
                     char *err, size_t err_cap);
/* pipeline: sends ncmds commands in one write; command i has argcs[i]
 * arguments, taken in order from argv/arglen. *out holds the ncmds raw
 * replies, concatenated. Retried once, as a whole, if retry is nonzero
 * (every command is safe to repeat). */
int tmc_pipeline(uint64_t h, int retry, int ncmds, const int *argcs, const char **argv,
                 const size_t *arglen, char **out, size_t *out_len,
                 char *err, size_t err_cap);
void tmc_free(char *p);
/* When a signal interrupts a call's wait for the server, the library calls
 * check on the calling thread: nonzero ends the call with TMC_ERR_INTR, zero
 * makes it wait on, within its deadline. The handle is still busy with the
 * call meanwhile, so check must not use it. Python installs one that runs
 * the signal handlers.
 * NULL (the default) never ends a call. */
void tmc_set_signal_check(int (*check)(void));

/* Server. config is JSON, for example
 *   {"network":"tcp","addr":"127.0.0.1:5002"}
 *   {"network":"unix","addr":"/tmp/x.sock","unix_mode":384,"password":"s3cret"}
 * Unknown fields and invalid values are TMC_ERR_ARG; failing to bind (the
 * address is in use, a live server owns the socket) is TMC_ERR_CONN.
 * tmc_server_start binds, starts serving in the
 * background and returns; a bind failure is reported here.
 * tmc_server_wait waits up to timeout seconds: 1 when the server has stopped,
 * 0 while it still runs. tmc_server_stop closes the listener, flushes replies
 * already computed, closes clients and removes the unix socket file. */
int tmc_server_start(const char *config, size_t config_len, uint64_t *out,
                     char *err, size_t err_cap);
int tmc_server_wait(uint64_t h, double timeout);
int tmc_server_stop(uint64_t h, char *err, size_t err_cap);
/* tmc_server_addr writes the address the server listens on ("127.0.0.1:41234"
 * after port 0 asked the system for a free one, or the unix socket path) into
 * buf, NUL-terminated; a stopped or unknown handle is TMC_ERR_ARG. */
int tmc_server_addr(uint64_t h, char *buf, size_t buf_cap);

/* tmc_server_stop_on_sigterm makes the next SIGTERM stop every server
 * started here (as tmc_server_stop does, removing unix socket files; a
 * server starting meanwhile fails with TMC_ERR_CONN) and then put back
 * SIGTERM's previous handling and raise it again, so that the process ends
 * as it would have. It is for servers run outside Python's main thread,
 * where no Python signal handler can run; call it before starting them,
 * while SIGTERM's handling is the default. Calling it again does nothing.
 * A child forked afterwards inherits the Go handler without the Go runtime:
 * it must put SIGTERM's handling back itself (tiny_mp_cache does). */
void tmc_server_stop_on_sigterm(void);

/* tmc_near_clean marks dead, and removes, the near cache's tables in
 * /dev/shm that this user's killed servers left behind (those no live
 * server holds locked), and gives their paths in *out, one a line, freed
 * with tmc_free. Nothing else is touched and no link is followed. A table
 * it could not remove is TMC_ERR_CONN, with the reason. */
int tmc_near_clean(char **out, size_t *out_len, char *err, size_t err_cap);

#endif /* TMC_STATUSES_ONLY */
