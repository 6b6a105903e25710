/* Loads the Windows wheel's libtinympcache.dll (its path is argv[1]) as the
 * Python package does, and checks through its C ABI (go/capi/tmc.h) that a
 * server starts on a free TCP port, that set, get, pop (GETDEL) and DBSIZE
 * give what they should, and that the server stops. Built with zig for
 * x86_64-windows-gnu and run under wine by .ci/platforms. Exits non-zero,
 * saying what failed, on any failure.
 *
 * No C runtime (-nostdlib, kernel32 only): zig would otherwise build
 * mingw's for the program, minutes on a cold cache. */
#include <windows.h>

#include "tmc.h"

#define NEED(fn) __typeof__(&fn) p_##fn = (__typeof__(&fn))(void (*)(void))GetProcAddress(dll, #fn); \
    if (!p_##fn) return fail("the DLL does not export " #fn)

static char err[512];
static int failures;

static size_t length(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int same(const char *a, size_t a_len, const char *b) {
    size_t i;
    if (a_len != length(b)) return 0;
    for (i = 0; i < a_len; i++) if (a[i] != b[i]) return 0;
    return 1;
}

static void say(const char *a, const char *b) {
    DWORD written;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    WriteFile(out, a, (DWORD)length(a), &written, NULL);
    WriteFile(out, b, (DWORD)length(b), &written, NULL);
    WriteFile(out, "\n", 1, &written, NULL);
}

static int fail(const char *what) {
    say("FAIL ", what);
    say("  ", err);
    return 1;
}

static void check(int ok, const char *what) {
    say(ok ? "  ok   " : "  FAIL ", what);
    if (!ok) failures++;
}

/* The DLL's path: the command line's last argument, unquoted, no spaces. */
static const char *argument(void) {
    char *line = GetCommandLineA(), *arg = line, *p;
    for (p = line; *p; p++) if (*p == ' ' && p[1] && p[1] != ' ') arg = p + 1;
    return arg;
}

static int run(void) {
    const char *path = argument();
    HMODULE dll = LoadLibraryA(path);
    if (!dll) return fail("LoadLibrary");
    NEED(tmc_server_start); NEED(tmc_server_addr); NEED(tmc_server_stop); NEED(tmc_server_wait);
    NEED(tmc_open); NEED(tmc_close); NEED(tmc_set); NEED(tmc_value); NEED(tmc_int);

    const char *config = "{\"network\":\"tcp\",\"addr\":\"127.0.0.1:0\"}";
    uint64_t server, client;
    char addr[128], buf[64], *out;
    size_t out_len;
    int64_t n;
    if (p_tmc_server_start(config, length(config), &server, err, sizeof err) != TMC_OK) return fail("tmc_server_start");
    if (p_tmc_server_addr(server, addr, sizeof addr) != TMC_OK) return fail("tmc_server_addr");
    say("server listening on ", addr);
    if (p_tmc_open(addr, length(addr), 5.0, 1 << 20, &client, err, sizeof err) != TMC_OK) return fail("tmc_open");

    check(p_tmc_set(client, "k", 1, "value", 5, err, sizeof err) == TMC_OK, "SET k value");
    int st = p_tmc_value(client, TMC_GET, "k", 1, buf, sizeof buf, &out, &out_len, NULL, err, sizeof err);
    check(st == TMC_OK && same(out, out_len, "value"), "GET k is value");
    st = p_tmc_value(client, TMC_GETDEL, "k", 1, buf, sizeof buf, &out, &out_len, NULL, err, sizeof err);
    check(st == TMC_OK && same(out, out_len, "value"), "pop (GETDEL) k is value");
    st = p_tmc_value(client, TMC_GET, "k", 1, buf, sizeof buf, &out, &out_len, NULL, err, sizeof err);
    check(st == TMC_NIL, "GET k after the pop is nil");
    st = p_tmc_int(client, TMC_DBSIZE, NULL, 0, NULL, 0, &n, err, sizeof err);
    check(st == TMC_OK && n == 0, "DBSIZE is 0");
    p_tmc_close(client);

    check(p_tmc_server_stop(server, err, sizeof err) == TMC_OK, "tmc_server_stop");
    check(p_tmc_server_wait(server, 5.0) == 1, "the server has stopped");
    st = p_tmc_open(addr, length(addr), 5.0, 1 << 20, &client, err, sizeof err);
    check(st == TMC_ERR_CONN, "connecting to the stopped server is TMC_ERR_CONN");
    say(failures ? "FAILED" : "ALL OK", "");
    return failures != 0;
}

/* The entry point (-nostdlib: no CRT to call main). */
void wWinMainCRTStartup(void) { ExitProcess(run()); }
