/* The `pyker` program in C: the same client as pyker/cli/client.py, without an interpreter.
 *
 * A Python client spends ~20 ms starting its interpreter before it can hand the command to
 * the fork server; this one starts in about a millisecond. It speaks the same protocol
 * (client.py's docstring): one SOCK_SEQPACKET request carrying argv, the environment and the
 * umask, with stdin, stdout, stderr and the working directory passed as descriptors
 * (SCM_RIGHTS); "ok" or "no" back; then "S<n>" for each relayed signal one way and "X<n>",
 * the command's exit status, the other.
 *
 * Whenever the server is absent, declines, or the request cannot be sent, the command runs
 * here: this program becomes `PYKER_PYTHON -c "..."` (the interpreter it was built for),
 * which is what the Python client does in-process. Built by `make venv` (see the Makefile);
 * where no C compiler exists, the Python client stays the `pyker` program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PYKER_PYTHON
#error "build with -DPYKER_PYTHON='\"/path/to/venv/bin/python\"'"
#endif

#define PROTOCOL "pyker-fork 2"
#define MAX_REQUEST (1 << 20) /* the server's limit (forkserver._MAX_REQUEST) */
#define DEFAULT_RUN_ROOT "/run/pyker"

extern char **environ;

/* The signals a terminal or a supervisor sends to a command; each is passed on to it. */
static const int relayed[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH};
static int server = -1;

static void run_here(char **argv) __attribute__((noreturn));
static void run_here(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    /* python -c CODE ARGS...: sys.argv is ["-c", ARGS...], and main() reads sys.argv[1:]. */
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args) {
        fputs("pyker: out of memory\n", stderr);
        exit(125);
    }
    args[0] = PYKER_PYTHON;
    args[1] = "-c";
    args[2] = "from pyker.cli.main import main; main()";
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    execv(PYKER_PYTHON, args);
    fprintf(stderr, "pyker: cannot run %s: %s\n", PYKER_PYTHON, strerror(errno));
    exit(127);
}

static int connect_server(void)
{
    const char *off = getenv("PYKER_FORKSERVER");
    if (off && strcmp(off, "off") == 0)
        return -1;
    const char *root = getenv("PYKER_RUN_ROOT");
    if (!root || !*root)
        root = DEFAULT_RUN_ROOT;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/forkserver.sock", root);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path)
        return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { /* no server, or stale */
        close(fd);
        return -1;
    }
    return fd;
}

struct buffer {
    char *data;
    size_t len;
};

/* Appends s and its NUL; 0 once the request would exceed what the server reads. */
static int put(struct buffer *b, const char *s)
{
    size_t n = strlen(s) + 1;
    if (b->len + n > MAX_REQUEST)
        return 0;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

/* The request: fields each ended by a NUL — protocol, umask (octal), argc, the arguments,
 * then every environment entry "NAME=value". 1 if the server took the command. */
static int request(int sock, char **argv)
{
    struct buffer b = {.data = malloc(MAX_REQUEST), .len = 0};
    if (!b.data)
        return 0;
    mode_t mask = umask(022);
    umask(mask);
    char number[32];
    int argc = 0;
    while (argv[argc])
        argc++;
    int ok = put(&b, PROTOCOL);
    snprintf(number, sizeof number, "%o", (unsigned)mask);
    ok = ok && put(&b, number);
    snprintf(number, sizeof number, "%d", argc - 1);
    ok = ok && put(&b, number);
    for (int i = 1; ok && i < argc; i++)
        ok = put(&b, argv[i]);
    for (char **e = environ; ok && *e; e++)
        ok = put(&b, *e);
    int cwd = ok ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (cwd < 0) {
        free(b.data);
        return 0;
    }
    int fds[4] = {0, 1, 2, cwd};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = b.data, .iov_len = b.len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    ssize_t sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    close(cwd);
    free(b.data);
    if (sent < 0)
        return 0;
    char reply[64];
    ssize_t n;
    do
        n = recv(sock, reply, sizeof reply, 0);
    while (n < 0 && errno == EINTR);
    return n == 2 && memcmp(reply, "ok", 2) == 0;
}

static void relay(int signum)
{
    /* "S<n>", built by hand: only async-signal-safe calls in a handler. */
    char message[8] = "S";
    int i = 1;
    if (signum >= 10)
        message[i++] = (char)('0' + signum / 10);
    message[i++] = (char)('0' + signum % 10);
    int saved = errno;
    send(server, message, (size_t)i, MSG_NOSIGNAL | MSG_DONTWAIT);
    errno = saved;
}

/* The command's exit status; 125 if the server vanished before telling it. */
static int wait_status(int sock)
{
    char message[64];
    for (;;) {
        ssize_t n = recv(sock, message, sizeof message - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fputs("pyker: the fork server exited before the command ended\n", stderr);
            return 125;
        }
        message[n] = '\0';
        if (message[0] == 'X')
            return atoi(message + 1);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    /* Starting or stopping the server is never the server's own job (a stop it ran would
     * wait for itself). */
    if (argv[1] && argv[2] && strcmp(argv[1], "system") == 0
        && strcmp(argv[2], "forkserver") == 0)
        run_here(argv);
    server = connect_server();
    if (server < 0)
        run_here(argv);
    if (!request(server, argv)) {
        close(server);
        run_here(argv);
    }
    struct sigaction action = {.sa_handler = relay, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof relayed / sizeof *relayed; i++)
        sigaction(relayed[i], &action, NULL);
    return wait_status(server);
}
