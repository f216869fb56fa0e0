/* c_api_test.c - connectx.h compiles as C99 and its bad-input errors reach a C caller. */
#include <connectx/connectx.h>
#include <connectx/guard.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                 \
    do {                                                            \
        if (!(cond)) {                                              \
            fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); \
            failures++;                                             \
        }                                                           \
    } while (0)

int main(void) {
    struct sockaddr_in dst;
    struct connectx_result res;
    struct connectx_opts opts;
    int fd;

    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons(9);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    errno = 0;
    CHECK(connectx(-1, NULL, 0, (struct sockaddr *)&dst, sizeof dst, NULL) == -1);
    CHECK(errno == EBADF);
    errno = 0;
    CHECK(connectx(0 /* stdin: not a socket, or closed */, NULL, 0, (struct sockaddr *)&dst,
                   sizeof dst, NULL) == -1);
    CHECK(errno == ENOTSOCK || errno == EBADF);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    memset(&opts, 0, sizeof opts);
    opts.size = 3; /* unknown size */
    errno = 0;
    CHECK(connectx(fd, NULL, 0, (struct sockaddr *)&dst, sizeof dst, &opts) == -1);
    CHECK(errno == EINVAL);
    opts.size = sizeof opts;
    opts.port_lo = 200;
    opts.port_hi = 100;
    opts.result = &res;
    errno = 0;
    CHECK(connectx(fd, NULL, 0, (struct sockaddr *)&dst, sizeof dst, &opts) == -1);
    CHECK(errno == EINVAL);
    CHECK(res.technique == CONNECTX_TECH_NONE);
    errno = 0;
    CHECK(connectx(fd, NULL, 0, (struct sockaddr *)&dst, sizeof dst - 1, NULL) == -1);
    CHECK(errno == EINVAL);
    {
        /* A pool from C: a prefix of length 33 is refused before any side effect. */
        struct sockaddr_storage net;
        memset(&net, 0, sizeof net);
        ((struct sockaddr_in *)&net)->sin_family = AF_INET;
        memset(&opts, 0, sizeof opts);
        opts.size = sizeof opts;
        opts.pool_prefix = &net;
        opts.pool_prefix_len = 33;
        errno = 0;
        CHECK(connectx(fd, NULL, 0, (struct sockaddr *)&dst, sizeof dst, &opts) == -1);
        CHECK(errno == EINVAL);
    }
    close(fd);
    {
        struct connectx_counters counters;
        struct connectx_port_budget budget;
        memset(&counters, 0, sizeof counters);
        counters.size = sizeof counters;
        CHECK(connectx_counters_read(&counters) == 0);
        CHECK(counters.calls == 6 && counters.failures == 6); /* the six calls above */
        errno = 0;
        CHECK(connectx_budget(IPPROTO_ICMP, (struct sockaddr *)&dst, sizeof dst,
                              (struct sockaddr *)&dst, sizeof dst, &budget) == -1);
        CHECK(errno == EINVAL);
    }

    CHECK(strcmp(connectx_technique_name(CONNECTX_TECH_UDP_LOCK), "udp-lock") == 0);
    CHECK(strcmp(connectx_technique_name(CONNECTX_TECH_UDP_ALONE), "udp-alone") == 0);
    CHECK(strcmp(connectx_technique_name(999), "unknown") == 0);
    /* guard.h is C99 too; a NULL cgroup path is EINVAL whether or not BPF was built. */
    errno = 0;
    CHECK(connectx_guard_detach(NULL, NULL) == -1);
    CHECK(errno == EINVAL || errno == ENOTSUP);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("c_api_test: all checks passed\n");
    return failures ? 1 : 0;
}
